# One image for web (gunicorn), worker (Celery prefork) and beat. See README "Production".
# PYTHON_IMAGE empty or unset: the official image. A machine without Docker Hub may name a local
# stand-in built from Debian's packages (scripts/stack-images.sh, used by the stack test).
ARG PYTHON_IMAGE=
FROM ${PYTHON_IMAGE:-python:3.11-slim-bookworm}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Fonts: IPAmj明朝 carries 𠮷 and the other 異体字 printed on certificates; IPAex for the rest.
# WeasyPrint needs Pango (with its FreeType backend), HarfBuzz subsetting and fontconfig.
# poppler-utils (pdftotext) lets an operator check a rendered PDF inside the container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      fonts-ipamj-mincho fonts-ipaexfont \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libharfbuzz0b fontconfig \
      poppler-utils \
 && rm -rf /var/lib/apt/lists/* \
 && fc-cache -f

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image and served by WhiteNoise (hashed names, compressed).
ENV VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/documents
RUN PRODUCTION=1 SECRET_KEY=collectstatic-only-not-a-runtime-key \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    python manage.py collectstatic --noinput -v 0 \
 && rm -f /tmp/collectstatic.sqlite3

# Run as an unprivileged user; it owns only the writable places (documents volume, var/).
RUN useradd --system --create-home --uid 10001 app \
 && mkdir -p /data/documents /app/var \
 && chown -R app:app /data/documents /app/var
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
