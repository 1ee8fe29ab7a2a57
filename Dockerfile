# Deskboard image. The default command serves the app with gunicorn (gthread workers,
# deploy/gunicorn.conf.py); the live feed runs in its own container from the same image
# (`python -m backend.market.feed_process`, see docker-compose.yml). Several workers need a
# ClickHouse server (DESKBOARD_WAREHOUSE_DSN) and Redis (DESKBOARD_REDIS_URL); for one
# self-contained process on the embedded stores, run `python app.py` instead.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DESKBOARD_HOST=0.0.0.0 DESKBOARD_PORT=8050 DESKBOARD_DATA_DIR=/data
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --uid 999 --home /app deskboard && mkdir -p /data && chown deskboard /data
USER deskboard
VOLUME ["/data"]
EXPOSE 8050
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
