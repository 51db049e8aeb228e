import logging

from fastapi import FastAPI, HTTPException

app = FastAPI()
log = logging.getLogger("uvicorn.error")


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    if item_id % 7 == 0:
        log.warning("item %d took the slow path", item_id)
    if item_id % 5 == 0:
        raise HTTPException(404, "no such item")
    return {"id": item_id}
