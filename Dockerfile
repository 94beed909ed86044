FROM python:3.11-slim-bookworm
# the Chinese TrueType face the web embeds in its printable documents (web/documents.py)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contract contract
COPY storage storage
COPY runtime runtime
COPY supervision supervision
COPY carewatch carewatch
COPY gateway gateway
COPY ingest ingest
COPY alerts alerts
COPY web web
COPY simulators simulators
COPY deploy deploy
RUN chmod +x deploy/with-mqtt-credentials.sh
RUN pip install --no-cache-dir .
USER nobody
