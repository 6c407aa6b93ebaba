"""Sample officers and postings for every station and every rank of every chain (fake phone numbers).

``python -m tickets.seed``            create them in ``DATABASE_URL`` (idempotent: usernames are stable)
``python -m tickets.seed --tokens``   also give each officer a fresh API token and print them (dev only)

Per thana (and women's desk / cyber cell): an SHO and two EOs (one a woman); per circle a CO, or an ACP in
a commissionerate; per district an SP or SSP (DCP and JCP and CP for Kanpur Nagar); an IG for the zone;
and the 1 Number cell (cell officers, an interpreter, an admin). Phones are +9190000xxxxx: not real.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Officer, Posting, Station, db, utcnow
from zone import get_zone, settings


def token_hash(token: str) -> str:
    """What ``Posting.api_token_hash`` stores for a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


class _Phones:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"+9190000{self.n:05d}"


def _officer(session: Session, existing: dict, username: str, name: str, phone: str, gender: str = "M") -> Officer:
    o = existing.get(username)
    if o is None:
        o = Officer(username=username, name=name, phone=phone, gender=gender, active=True)
        session.add(o)
        session.flush()
        existing[username] = o
    return o


def _post(session: Session, have: set, o: Officer, role: str, phone: str, station_id=None, circle=None,
          district=None) -> None:
    key = (o.id, role, station_id, circle, district)
    if key in have:
        return
    session.add(Posting(officer_id=o.id, role=role, station_id=station_id, circle=circle, district=district,
                        phone=phone))
    have.add(key)


def seed(session: Session) -> dict[str, int]:
    """Create the sample officers and postings that are missing. Returns counts by role."""
    z = get_zone()
    phones = _Phones()
    existing = {o.username: o for o in session.scalars(select(Officer))}
    have = {(p.officer_id, p.role, p.station_id, p.circle, p.district) for p in session.scalars(select(Posting))}
    counts: dict[str, int] = {}

    def add(username, name, role, gender="M", **scope):
        phone = phones()
        o = _officer(session, existing, username, name, phone, gender)
        _post(session, have, o, role, o.phone, **scope)
        counts[role] = counts.get(role, 0) + 1

    stations = list(session.scalars(select(Station).where(Station.active.is_(True)).order_by(Station.id)))
    for st in stations:
        slug = st.code.lower()
        add(f"sho.{slug}", f"SHO {st.name_en}", "sho", "F" if st.kind == "women_desk" else "M", station_id=st.id)
        add(f"eo1.{slug}", f"SI {st.name_en} 1", "eo", station_id=st.id)
        add(f"eo2.{slug}", f"SI {st.name_en} 2 (W)", "eo", "F", station_id=st.id)
    for d in z.districts:
        chain = z.chain_for(d.key)
        circles = sorted({s.circle for s in stations if s.district == d.key})
        for rank in chain[1:]:
            if rank == "ig_zone":
                continue
            if rank in ("co", "acp"):
                for circle in circles:
                    slug = circle.lower().replace(" ", "-")
                    add(f"{rank}.{d.key}.{slug}", f"{rank.upper()} {circle}", rank, circle=circle, district=d.key)
            else:
                add(f"{rank}.{d.key}", f"{rank.upper()} {d.name_en}", rank, district=d.key)
    add("ig.kanpur_zone", "IG Kanpur Zone", "ig_zone")
    add("cell.duty", "1 Number duty officer", "cell")
    add("cell.operator", "1 Number operator", "cell", "F")
    add("interpreter.1", "Sign-language interpreter", "interpreter", "F")
    add("admin", "Bharosa admin", "admin")
    session.flush()
    return counts


def issue_token(posting: Posting) -> str:
    """A new API token bound to ``posting`` (the old one stops working), valid ``limits.api_token_days``."""
    tok = "bht_" + secrets.token_urlsafe(24)
    posting.api_token_hash = token_hash(tok)
    posting.api_token_expires_at = utcnow() + timedelta(days=get_zone().limits.api_token_days)
    return tok


def issue_tokens(session: Session) -> dict[str, str]:
    """Give every active officer a new API token for the posting they hold now (the lowest-numbered
    current one, as the console signs in); returns username → token (shown once)."""
    from tickets.scope import active_postings

    out = {}
    for o in session.scalars(select(Officer).where(Officer.active.is_(True)).order_by(Officer.id)):
        postings = active_postings(session, o.id)
        if postings:
            out[o.username] = issue_token(postings[0])
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", action="store_true", help="issue API tokens and print them")
    args = ap.parse_args(argv)
    from tickets.stations import sync_stations

    db.init(settings.get().database_url)
    with db.session() as s:
        sync_stations(s)
        counts = seed(s)
        toks = issue_tokens(s) if args.tokens else {}
    print("postings created:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none (already seeded)")
    for u, t in toks.items():
        print(f"{u}\t{t}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
