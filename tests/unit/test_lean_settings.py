"""The settings read without pydantic-settings (`LeanSettings`: ingest's, the agent's and the
knowledge base's, for their cold start) read the environment as pydantic-settings reads it for
the other functions: the same variable names, alias order, secret files and values."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsConfigDict

from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import LeanSettings, env_names, is_secret
from orchestrator.settings.files import FileSecretSettings
from orchestrator.settings.ingest import IngestSettings
from orchestrator.settings.knowledge import KnowledgeSettings

LEAN = [AgentSettings, KnowledgeSettings, IngestSettings]


def pydantic_settings_twin(cls: type[LeanSettings]) -> Any:
    """`cls` read by pydantic-settings, as the router's, executor's and console's are."""
    config = SettingsConfigDict(env_prefix=cls.env_prefix, extra="ignore")
    return type(f"{cls.__name__}Twin", (FileSecretSettings, cls), {"model_config": config})


def changed(name: str, field: FieldInfo, tmp_path: Path) -> str:
    """A valid value for the field other than its default, as an environment variable."""
    default = field.get_default(call_default_factory=True)
    kind = next(t for t in (field.annotation, *typing.get_args(field.annotation))
                if t is not type(None) and not typing.get_args(t) or
                typing.get_origin(t) is Literal)
    if typing.get_origin(kind) is Literal:
        return str(next(v for v in typing.get_args(kind) if v != default))
    if kind is bool:
        return str(not default).lower()
    if kind in (int, float):
        number = default // 2 if kind is int else default / 2
        return str(number or default + 1)
    if kind is Path:
        return str(tmp_path / name)
    if kind is SecretStr:
        return f"secret-{name}"
    return f"v-{name.replace('_', '-')}"


@pytest.mark.parametrize("cls", LEAN, ids=lambda c: c.__name__)
@pytest.mark.parametrize("alias", [0, -1], ids=["first-name", "last-name"])
def test_every_field_reads_as_pydantic_settings_reads_it(
        cls: type[LeanSettings], alias: int, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [n for name, f in cls.model_fields.items()
                for n in env_names(cls.env_prefix, name, f)]:
        monkeypatch.delenv(var, raising=False)
    for name, field in cls.model_fields.items():
        var = env_names(cls.env_prefix, name, field)[alias]
        value = changed(name, field, tmp_path)
        if is_secret(field) and alias == -1:  # a secret from the file its variable names
            (tmp_path / f"{name}.secret").write_text(value + "\n")
            monkeypatch.setenv(env_names(cls.env_prefix, name, field)[0] + "_FILE",
                               str(tmp_path / f"{name}.secret"))
        else:
            monkeypatch.setenv(var.lower() if alias == -1 else var, value)  # any case
        if alias == 0:  # the first name set wins over the others
            default = field.get_default(call_default_factory=True)
            for other in env_names(cls.env_prefix, name, field)[1:]:
                monkeypatch.setenv(other, "other" if default is None else str(default))
    lean, twin = cls.from_env(), pydantic_settings_twin(cls)()
    for name in cls.model_fields:
        mine, theirs = getattr(lean, name), getattr(twin, name)
        if isinstance(mine, SecretStr):
            mine, theirs = mine.get_secret_value(), theirs.get_secret_value()
        assert mine == theirs, name
        assert mine != cls.model_fields[name].get_default(call_default_factory=True), (
            f"{name} was not read")


@pytest.mark.parametrize("cls", LEAN, ids=lambda c: c.__name__)
def test_a_bad_value_fails_naming_its_variable_as_pydantic_settings_does(
        cls: type[LeanSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    for name, field in cls.model_fields.items():
        kind = field.annotation
        if kind in (int, float, bool) or typing.get_origin(kind) is Literal:
            var = env_names(cls.env_prefix, name, field)[0]
            monkeypatch.setenv(var, "not-a-value")
            errors = []
            for read in (cls.from_env, pydantic_settings_twin(cls)):
                with pytest.raises(ValidationError) as e:
                    read()
                errors.append([err["loc"] for err in e.value.errors()])
            assert errors[0] == errors[1], name
            monkeypatch.delenv(var)


def _read(read: Any) -> Any:
    """A reader's fields (secrets revealed), or the locations and kinds of its errors."""
    from pydantic import ValidationError

    try:
        settings = read()
    except ValidationError as e:
        return sorted((err["loc"], err["type"]) for err in e.errors())
    return {name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in settings}


@pytest.mark.parametrize("cls", LEAN, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", ["empty", "blank", "padded", "yes-no", "file-and-variable",
                                  "missing-file"])
def test_edge_values_read_as_pydantic_settings_reads_them(
        cls: type[LeanSettings], case: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Per field, one odd value at a time: both readers agree on the value or on the error."""
    for name, field in cls.model_fields.items():
        names = env_names(cls.env_prefix, name, field)
        for var in names:
            monkeypatch.delenv(var, raising=False)
            monkeypatch.delenv(var + "_FILE", raising=False)
        var = names[0]
        if case in ("file-and-variable", "missing-file") and not is_secret(field):
            continue
        if case == "empty":
            monkeypatch.setenv(var, "")
        elif case == "blank":
            monkeypatch.setenv(var, "   ")
        elif case == "padded":
            monkeypatch.setenv(var, f" {changed(name, field, tmp_path)} ")
        elif case == "yes-no":
            monkeypatch.setenv(var, "yes" if field.annotation is bool else "no")
        elif case == "file-and-variable":
            (tmp_path / "secret").write_text("from-the-file\n")
            monkeypatch.setenv(var, "from-the-variable")
            monkeypatch.setenv(var + "_FILE", str(tmp_path / "secret"))
        else:
            monkeypatch.setenv(var + "_FILE", str(tmp_path / "no-such-file"))
        try:
            lean: Any = _read(cls.from_env)
        except Exception as e:  # noqa: BLE001 - a refusal is compared by its kind
            lean = type(e)
        try:
            twin: Any = _read(pydantic_settings_twin(cls))
        except Exception as e:  # noqa: BLE001
            twin = type(e)
        assert lean == twin, (name, case)
        for v in (var, var + "_FILE"):
            monkeypatch.delenv(v, raising=False)


def test_a_default_out_of_its_own_bounds_fails_as_with_pydantic_settings() -> None:
    from pydantic import Field, ValidationError

    class Bad(LeanSettings):
        env_prefix = "BAD_"
        limit: int = Field(default=25, le=20)

    for read in (Bad.from_env, pydantic_settings_twin(Bad)):
        with pytest.raises(ValidationError, match="less than or equal to 20"):
            read()
