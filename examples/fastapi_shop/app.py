"""A small FastAPI + SQLAlchemy service on PostgreSQL (psycopg2), written
the way such services are written, with no tracing code at all: every span
comes from libotelshim.so preloaded into the Python process.

    DATABASE_URL=postgresql+psycopg2://user:pw@host/db \\
    LD_PRELOAD=/path/to/libotelshim.so OTEL_SERVICE_NAME=shop \\
        python3 -m uvicorn app:app --port 8000

Endpoints: GET /products, GET /products/{id}, POST /orders.
"""

import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import (Column, ForeignKey, Integer, String, create_engine,
                        select)
from sqlalchemy.orm import Session, declarative_base

engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=False)
Base = declarative_base()


class Product(Base):
    __tablename__ = "products"
    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    price_cents = Column(Integer, nullable=False)


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    product_id = Column(Integer, ForeignKey("products.id"), nullable=False)
    quantity = Column(Integer, nullable=False)


class OrderIn(BaseModel):
    product_id: int
    quantity: int


app = FastAPI(title="shop")


@app.on_event("startup")
def create_schema():
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        if not s.scalars(select(Product).limit(1)).first():
            s.add_all([Product(name="tea", price_cents=450),
                       Product(name="coffee", price_cents=600)])
            s.commit()


# The handlers are `async def` so they run on the event loop's thread,
# where the request span is active; plain `def` handlers run in a thread
# pool, whose queries would start traces of their own.
@app.get("/products")
async def list_products():
    with Session(engine) as s:
        rows = s.scalars(select(Product).order_by(Product.id)).all()
        return [{"id": p.id, "name": p.name, "price_cents": p.price_cents}
                for p in rows]


@app.get("/products/{product_id}")
async def get_product(product_id: int):
    with Session(engine) as s:
        p = s.get(Product, product_id)
        if p is None:
            raise HTTPException(status_code=404, detail="no such product")
        return {"id": p.id, "name": p.name, "price_cents": p.price_cents}


@app.post("/orders", status_code=201)
async def place_order(order: OrderIn):
    with Session(engine) as s:
        if s.get(Product, order.product_id) is None:
            raise HTTPException(status_code=404, detail="no such product")
        o = Order(product_id=order.product_id, quantity=order.quantity)
        s.add(o)
        s.commit()
        return {"id": o.id}
