"""One router module per resource; each exposes `router(context) -> APIRouter`."""
