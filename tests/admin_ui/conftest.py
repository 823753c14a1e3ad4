import pytest

from tests.admin_ui.scenario import build_society


@pytest.fixture
def society(db, settings, tmp_path, clerk, supervisor, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path / "media"
    with django_capture_on_commit_callbacks(execute=True):
        return build_society(clerk=clerk, supervisor=supervisor)
