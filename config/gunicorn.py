"""gunicorn settings (`gunicorn -c config/gunicorn.py config.wsgi:application …`).

Every line of gunicorn's access and error logs goes through core.logging.mask_my_numbers, the
masking of the application's own logs: a My Number in a query string (`?q=1234-5678-9018`, percent-
encoded or not) never reaches the log. The other options (bind, workers, the log files) stay on the
command line of the Dockerfile and docker-compose.yml."""

import logging

from gunicorn.glogging import Logger

from core.logging import mask_my_numbers


class _Masking(logging.Formatter):
    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask_my_numbers(self.inner.format(record))


class MaskingLogger(Logger):
    """gunicorn's logger with every handler's formatter wrapped in the masking (set up again on each
    reopen of the log files)."""

    def setup(self, cfg):
        super().setup(cfg)
        self._mask_handlers()

    def reopen_files(self):
        super().reopen_files()
        self._mask_handlers()

    def _mask_handlers(self):
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not isinstance(handler.formatter, _Masking):
                    handler.setFormatter(_Masking(handler.formatter))


logger_class = MaskingLogger
