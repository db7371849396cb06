# Outpost image: one image for the API (default CMD), the relay (`outbox-relay run`) and the one-shot
# migration job (`outpost migrate`). See docker-compose.yml for how the three are wired together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OUTPOST_BIND=0.0.0.0:8000

WORKDIR /app

# Dependencies first, in their own layer, so that editing the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (no dev extra).
COPY . .
RUN pip install . \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/outpost --shell /usr/sbin/nologin outpost \
    && mkdir -p /app/var \
    && chown -R outpost:outpost /app/var

USER outpost

EXPOSE 8000

CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "api_service:create_app()"]
