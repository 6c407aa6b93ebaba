"""The one scope rule has two forms: ``complaint_filter`` (SQL, for lists) and ``access`` (one loaded ticket,
through ``_in_scope``). They must agree for every posting of the sample zone and every kind of ticket: routed
at each district's stations, unrouted with and without a district, confidential, needing an interpreter, and
for the public (Open311) scope."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from models import Complaint, Posting, Station
from tests.tickets.helpers import new_ticket, seeded
from tickets.scope import PUBLIC, access, complaint_filter, scope_of

_phone = itertools.count(9839100000)


def test_the_sql_and_the_python_forms_of_the_scope_rule_agree(db):
    seeded(db)
    with db.session() as s:
        stations = list(s.scalars(select(Station).order_by(Station.id)))
        districts = sorted({st.district for st in stations})
    ids = []
    for d in districts:
        # one routed ticket at two stations of each district, one left unrouted in it
        for st in [x for x in stations if x.district == d][:2]:
            ids.append(new_ticket(db, phone=f"+91{next(_phone)}", district=d, route=False))
            with db.session() as s:
                c = s.get(Complaint, ids[-1])
                c.station_id, c.status = st.id, "routed"
        ids.append(new_ticket(db, phone=f"+91{next(_phone)}", district=d, route=False))
    ids.append(new_ticket(db, phone=f"+91{next(_phone)}", district=None, route=False))
    with db.session() as s:  # every third confidential, every fourth needing an interpreter
        for i, cid in enumerate(ids):
            c = s.get(Complaint, cid)
            c.confidential = i % 3 == 0
            c.needs_interpreter = i % 4 == 0
    with db.session() as s:
        scopes = [scope_of(s, p) for p in s.scalars(select(Posting).order_by(Posting.id))] + [PUBLIC]
        kinds = {sc.kind for sc in scopes}
        assert {"station", "district", "zone", "public"} <= kinds, kinds
        assert any(sc.role == "interpreter" for sc in scopes)
        tickets = list(s.scalars(select(Complaint).where(Complaint.id.in_(ids))))
        for sc in scopes:
            by_sql = set(s.scalars(select(Complaint.id).where(Complaint.id.in_(ids), complaint_filter(sc))))
            by_python = {c.id for c in tickets if access(None, sc, c).see}
            assert by_sql == by_python, (sc.label, sc.role, by_sql ^ by_python)
