# syntax=docker/dockerfile:1
# Image for the escalation service: one image, three entry points.
#   worker (default):  python worker.py
#   web:               uvicorn web.app:app --host 0.0.0.0 --port 8000
#   CLI:               docker compose run --rm worker python starter.py status T-12345
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    ESCALATION_POLICY=/app/config/policy.toml

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, in their own layer: read from pyproject.toml so that a code change does
# not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (what .dockerignore lets through), installed as a package. The source tree
# stays in /app as the working directory, so `uvicorn web.app:app` and `python worker.py`
# resolve from here as they do in a checkout.
# Bytecode compiled at build time (PYTHONDONTWRITEBYTECODE stops Python writing it at run time):
# the workflow sandbox imports the workflow module afresh for every run, and recompiling it from
# source each time cost the worker 13% of its CPU in `make bench`.
COPY . .
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q /app

# Routing/priority/SLA policy; mount another file over it or set ESCALATION_POLICY to change it.
COPY config/ /app/config/

USER app

EXPOSE 8000
CMD ["python", "worker.py"]
