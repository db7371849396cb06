# Outpost image: the built wheel installed in a virtualenv, as on a server (docs/install.md). One
# image for the API (default CMD, `outpost serve`), the relay (`outbox-relay run`) and the one-shot
# migration job (`outpost migrate`). See docker-compose.yml for how the three are wired together.
FROM python:3.11-slim AS wheel
# The context has no .git (.dockerignore), so the version git would give is passed in:
# `docker build --build-arg OUTPOST_VERSION=$(.venv/bin/python -m setuptools_scm) .` (the dev
# virtualenv has it); without it, 0.0.0+unknown.
ARG OUTPOST_VERSION=0.0.0+unknown
WORKDIR /src
COPY . .
RUN SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OUTPOST="$OUTPOST_VERSION" \
    pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/outpost/venv/bin:$PATH \
    OUTPOST_BIND=0.0.0.0:8000

# Dependencies first, in their own layer, so that editing the code does not reinstall them.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -m venv /opt/outpost/venv \
    && python -c "import tomllib; deps = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/pyproject.toml

# The package itself, no source tree: migrations, templates and settings come with the wheel.
COPY --from=wheel /dist /dist
RUN pip install /dist/*.whl \
    && rm -rf /dist \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/outpost --shell /usr/sbin/nologin outpost \
    && install -d -o outpost -g outpost /var/lib/outpost

WORKDIR /var/lib/outpost
USER outpost

EXPOSE 8000

CMD ["outpost", "serve"]
