FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DESKBOARD_HOST=0.0.0.0 DESKBOARD_PORT=8050 DESKBOARD_DATA_DIR=/data
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app deskboard && mkdir -p /data && chown deskboard /data
USER deskboard
VOLUME ["/data"]
EXPOSE 8050
CMD ["python", "app.py"]
