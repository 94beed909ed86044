"""One settings object (issue #36 item 6): contract.config.Settings reads the environment once; the
notification channels are defined once (contract.config.Channels) and a command's flags override."""

from __future__ import annotations

import pytest

from contract.config import Channels, Settings


def test_the_channels_come_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_SMTP_HOST", "mail.city.example")
    monkeypatch.setenv("CAREWATCH_SMTP_PORT", "587")
    monkeypatch.setenv("CAREWATCH_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("CAREWATCH_WECOM_URL", "http://127.0.0.1:9/wecom")
    s = Settings()
    ch = s.channels()
    assert ch == Channels(
        smtp_host="mail.city.example", smtp_port=587, smtp_password="s3cret-pw", wecom_url="http://127.0.0.1:9/wecom"
    )
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in repr(ch), "a secret never shows in a repr"
    monkeypatch.setenv("CAREWATCH_SMTP_PORT", "99999")
    with pytest.raises(ValueError, match="smtp_port"):
        Settings()


def test_a_flag_overrides_its_setting_and_an_unset_flag_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from carewatch.cli import _settings

    monkeypatch.setenv("CAREWATCH_SMTP_HOST", "mail.city.example")
    monkeypatch.setenv("CAREWATCH_SMTP_FROM", "duty@city.example")
    s = _settings(smtp_host="relay.county.example", smtp_from=None, smtp_starttls=True)
    assert (s.smtp_host, s.smtp_from, s.smtp_starttls) == ("relay.county.example", "duty@city.example", True)
