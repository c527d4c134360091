from __future__ import annotations

from pathlib import Path

import pytest

from register.config import ConfigError, LoyaltySettings, OfdSettings, RegisterConfig


def test_round_trip(tmp_path: Path) -> None:
    cfg = RegisterConfig(
        fn="serial:/dev/pts/9",
        printer="tcp:127.0.0.1:9100?profile=TM-T20III",
        journal=tmp_path / "journal.sqlite",
        loyalty=LoyaltySettings(url="http://127.0.0.1:8000", timeout=0.5),
        ofd=OfdSettings(uri="tcp:127.0.0.1:7777", lab_http="127.0.0.1:8080"),
    )
    path = tmp_path / "register.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    loaded = RegisterConfig.load(path)
    assert (loaded.fn, loaded.printer, loaded.journal) == (cfg.fn, cfg.printer, cfg.journal)
    assert (loaded.loyalty, loaded.ofd, loaded.seller, loaded.kkt) == (
        cfg.loyalty,
        cfg.ofd,
        cfg.seller,
        cfg.kkt,
    )
    assert loaded.catalogue.items == cfg.catalogue.items


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[devices\n", "not valid TOML"),
        ('[journal]\npath = "j"\n', "missing 'fn'"),
        ('[devices]\nfn = "x"\nprinter = "y"\n', r"\[journal\]: missing 'path'"),
        ('[devices]\nfn = 1\nprinter = "y"\n[journal]\npath = "j"\n', "'fn' has the wrong type"),
        ('[devices]\nfn = "x"\nprinter = "y"\n[journal]\npath = "j"\n[shop]\ninn = "12"\n', "INN"),
        ('[devices]\nfn = "x"\nprinter = "y"\n[journal]\npath = "j"\n[loyalty]\ntimeout = 0\n', "positive"),
        (
            '[devices]\nfn = "x"\nprinter = "y"\n[journal]\npath = "j"\n[[catalogue]]\nsku = "A"\n',
            "catalogue entry 1: missing 'price'",
        ),
    ],
)
def test_bad_config_is_named(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle) as info:
        RegisterConfig.load(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        RegisterConfig.load(tmp_path / "none.toml")
