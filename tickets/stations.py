"""Load the zone's stations (data/stations.csv) into the database, keeping ids stable."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Station
from zone import get_zone


def sync_stations(session: Session) -> int:
    """Insert new stations, update changed ones, deactivate removed ones. Returns the active count."""
    z = get_zone()
    existing = {s.code: s for s in session.scalars(select(Station))}
    for st in z.stations:
        row = existing.pop(st.code, None)
        vals = st.model_dump()
        if row is None:
            session.add(Station(**vals, active=True))
        else:
            for k, v in vals.items():
                setattr(row, k, v)
            row.active = True
    for row in existing.values():
        row.active = False
    session.flush()
    from tickets.router import clear_cache  # the router caches active stations briefly

    clear_cache()
    return len(z.stations)
