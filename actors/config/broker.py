"""The broker's typed config: one attribute per key of the table, built once, handed to every actor.

:class:`BrokerConfig` is generated from :data:`~actors.config.keys.BROKER_CONFIG_KEYS`
rather than written out, so a key added to the table is an attribute at once, with
the table's type and default, and there is no second list of fields to forget. The
attribute is the key with ``.`` replaced by ``_`` (``broker.heartbeat.interval.ms``
→ ``broker_heartbeat_interval_ms``).

It is a frozen msgspec Struct so the supervisor can send it whole to actor
processes inside their spec (``msgspec.msgpack``) and no actor re-parses strings
with a default of its own; frozen also means no actor can change it for the others.

A few attributes are resolved from several keys, Kafka's way, and where such an
attribute has the name of a raw key the resolved value wins (the raw value stays
available through :meth:`~BrokerConfigBase.get`):

* ``broker_id`` and ``node_id``: ``broker.id``, else ``node.id`` (they must agree);
* ``advertised_listeners``: ``advertised.listeners``, else ``listeners``;
* ``log_dirs``: ``log.dirs``, else ``log.dir`` (both comma-separated);
* ``log_retention_ms``: ``log.retention.ms`` > ``.minutes`` > ``.hours``, in ms;
* ``log_roll_ms``: ``log.roll.ms`` > ``log.roll.hours``, in ms.

The last two follow :data:`storage.config.TOPIC_DEFAULTS_FROM_BROKER`, the chain
storage uses for ``retention.ms`` and ``segment.ms``, so the broker's figure is the
one its logs get.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from storage.config import LogConfig, topic_over_broker
from storage.errors import InvalidConfigError

from .keys import BOOL, BROKER_CONFIG_KEYS, DOUBLE, INT, LIST, LISTENERS, STR, ConfigKey, unknown
from .properties import load_properties
from .topic import CLEANER_DISABLED, validate_topic_configs
from .values import ConfigError, Listener

__all__ = ["BrokerConfig", "BrokerConfigBase", "attribute_of"]

# Accepted with a notice: zafka has its own controller, so ZooKeeper settings are moot.
_ZOOKEEPER_PREFIX = "zookeeper."


def attribute_of(key: str) -> str:
    """The :class:`BrokerConfig` attribute of a broker key: ``log.dirs`` → ``log_dirs``."""
    return key.replace(".", "_")


class BrokerConfigBase(msgspec.Struct, frozen=True, kw_only=True, repr_omit_defaults=True):
    """The methods of :class:`BrokerConfig`, whose fields are generated from the key table."""

    # the keys that were set, normalised and sorted; a tuple so the struct stays hashable
    _props: tuple[tuple[str, str], ...] = ()

    @property
    def properties(self) -> dict[str, str]:
        """The known keys that were set, normalised (``"7 * 24"`` → ``"168"``); a fresh dict."""
        return dict(self._props)

    def get(self, key: str) -> object:
        """The typed value of any known broker key as written: as set, else the table's default.

        Unlike the attribute of the same name, this is the raw key, never a resolved
        value: ``get("log.retention.ms")`` is ``None`` when only hours are set.
        """
        spec = BROKER_CONFIG_KEYS.get(key)
        if spec is None:
            raise ConfigError(unknown("config", key, BROKER_CONFIG_KEYS), key=key)
        props = dict(self._props)
        return spec.parse(props[key]) if key in props else spec.default

    @classmethod
    def defaults(cls) -> "BrokerConfig":
        """The table's default for every key (no file at all)."""
        return cls.from_properties({})[0]

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple["BrokerConfig", list[str]]:
        """:func:`~actors.config.properties.load_properties` then :meth:`from_properties`."""
        return cls.from_properties(load_properties(path))

    @classmethod
    def from_properties(cls, props: Mapping[str, object]) -> tuple["BrokerConfig", list[str]]:
        """Validate ``props`` and build the config; returns it with warnings and notices.

        Unknown keys and ZooKeeper settings are not errors: they come back as messages
        for the caller to show. A bad value of a known key is a :class:`ConfigError`.
        Values may be strings (from a file) or Python ints/bools/lists (from code).
        """
        warnings: list[str] = []
        typed: dict[str, object] = {}
        normalised: dict[str, str] = {}
        for raw_key, raw_value in props.items():
            key = str(raw_key).strip()
            spec = BROKER_CONFIG_KEYS.get(key)
            if spec is None:
                if key.startswith(_ZOOKEEPER_PREFIX):
                    warnings.append(
                        f"{key} is not needed: zafka runs an embedded controller (no ZooKeeper); ignored"
                    )
                else:
                    warnings.append(unknown("config", key, BROKER_CONFIG_KEYS))
                continue
            value = spec.parse(raw_value)
            typed[key] = value
            normalised[key] = spec.format(value)
            not_in_effect = spec.warning_for(value)
            if not_in_effect:
                warnings.append(not_in_effect)
        if typed.get("log.cleaner.enable") is False:
            warnings.append(CLEANER_DISABLED)

        values = {attribute_of(key): typed.get(key, spec.default) for key, spec in BROKER_CONFIG_KEYS.items()}
        values.update(_resolve(typed, warnings))
        _check_backoff(values["supervisor_restart_backoff_ms"], values["supervisor_restart_backoff_max_ms"])
        return cls(**values, _props=tuple(sorted(normalised.items()))), warnings

    def with_properties(self, overrides: Mapping[str, object]) -> "BrokerConfig":
        """This config with ``overrides`` applied and re-validated (e.g. a per-broker id and port).

        Meant for code, not files, so an unknown key is an error here, not a warning.
        """
        for key in overrides:
            if key not in BROKER_CONFIG_KEYS:
                raise ConfigError(unknown("config", key, BROKER_CONFIG_KEYS), key=key)
        merged: dict[str, object] = dict(self._props)
        merged.update(overrides)
        return type(self).from_properties(merged)[0]

    def log_config_for(self, topic_configs: Mapping[str, object] | None = None) -> LogConfig:
        """The storage config of one topic's logs: topic keys beat the broker's ``log.*`` keys beat defaults.

        The one way to get a partition's :class:`~storage.config.LogConfig`, so a
        leader and ``configs describe`` cannot apply different precedence.
        """
        topic = validate_topic_configs(topic_configs or {})
        try:
            return LogConfig.from_configs(topic, self.properties)
        except InvalidConfigError as exc:  # already validated here; kept for a typed error anyway
            raise ConfigError.invalid(exc.key, exc.value, exc.allowed) from None

    def ensure_log_dirs(self) -> tuple[Path, ...]:
        """Create missing log directories and check each is a writable directory.

        Kafka creates them at startup too; a path that is a file, or not writable,
        is a :class:`ConfigError` naming the key and the directory.
        """
        key = "log.dirs" if "log.dirs" in dict(self._props) else "log.dir"
        out = []
        for d in self.log_dirs:
            path = Path(d)
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"invalid value {d!r} in {key}: cannot create directory: {exc.strerror or exc}",
                                  key=key, value=d, allowed="a writable directory") from None
            if not os.access(path, os.W_OK | os.X_OK):
                raise ConfigError(f"invalid value {d!r} in {key}: directory is not writable",
                                  key=key, value=d, allowed="a writable directory")
            out.append(path)
        return tuple(out)


# -- the attributes resolved from several keys ---------------------------------------------


def _resolve_broker_id(typed: Mapping[str, object]) -> int:
    broker_id, node_id = typed.get("broker.id", -1), typed.get("node.id", -1)
    if broker_id != -1 and node_id != -1 and broker_id != node_id:
        raise ConfigError(
            f"invalid value {node_id!r} for node.id: must equal broker.id ({broker_id}) when both are set",
            key="node.id", value=node_id, allowed=f"{broker_id}",
        )
    return broker_id if broker_id != -1 else node_id


def _check_advertised(listeners: tuple[Listener, ...], advertised: tuple[Listener, ...]) -> None:
    names = {listener.name for listener in listeners}
    for listener in advertised:
        if listener.name not in names:
            allowed = "listener names among those in listeners (" + ", ".join(sorted(names)) + ")"
            raise ConfigError.invalid("advertised.listeners", str(listener), allowed)


def _resolve_log_dirs(typed: Mapping[str, object], warnings: list[str]) -> tuple[str, ...]:
    """``log.dirs`` if set, else ``log.dir`` — both comma-separated, as in Kafka."""
    if "log.dirs" in typed:
        key, dirs = "log.dirs", typed["log.dirs"]
        if "log.dir" in typed:
            warnings.append("log.dir is ignored: log.dirs is set and takes precedence")
    else:
        key = "log.dir"
        raw = typed.get("log.dir", BROKER_CONFIG_KEYS["log.dir"].default)
        dirs = tuple(d.strip() for d in raw.split(",") if d.strip())
    if not dirs:
        raise ConfigError.invalid(key, "", "at least one directory (comma-separated)")
    seen: set[str] = set()
    for d in dirs:
        norm = os.path.normpath(d)
        if norm in seen:
            raise ConfigError(f"invalid value {','.join(dirs)!r} for {key}: directory {d} is listed twice",
                              key=key, value=",".join(dirs), allowed="distinct directories")
        seen.add(norm)
    return tuple(dirs)


def _already_typed(key: str, value: object) -> object:
    return value


def _broker_default_of(topic_key: str, typed: Mapping[str, object]) -> int:
    """What the broker supplies for ``topic_key`` (``retention.ms``, ``segment.ms``), in ms.

    Table defaults take part, as in Kafka: with nothing set, ``log.retention.hours``
    (168) is what counts, because the keys above it default to unset.
    """
    with_defaults = {key: typed.get(key, spec.default) for key, spec in BROKER_CONFIG_KEYS.items()}
    value = topic_over_broker(topic_key, {}, with_defaults, _already_typed)
    assert isinstance(value, int), topic_key  # the last key of each chain has a default
    return value


def _resolve(typed: Mapping[str, object], warnings: list[str]) -> dict[str, object]:
    """attribute -> resolved value. The order is behaviour: of several bad values, the first checked is reported."""
    broker_id = _resolve_broker_id(typed)
    listeners = typed.get("listeners", BROKER_CONFIG_KEYS["listeners"].default)
    advertised = typed.get("advertised.listeners", listeners)
    _check_advertised(listeners, advertised)
    return {
        "broker_id": broker_id,
        "node_id": broker_id,
        "advertised_listeners": advertised,
        "log_dirs": _resolve_log_dirs(typed, warnings),
        "log_retention_ms": _broker_default_of("retention.ms", typed),
        "log_roll_ms": _broker_default_of("segment.ms", typed),
    }


def _check_backoff(backoff: int, backoff_max: int) -> None:
    if backoff > backoff_max:
        raise ConfigError(
            f"invalid value {backoff!r} for supervisor.restart.backoff.ms: expected at most "
            f"supervisor.restart.backoff.max.ms ({backoff_max})",
            key="supervisor.restart.backoff.ms", value=backoff, allowed=f"at most {backoff_max}",
        )


# -- the generated struct --------------------------------------------------------------------

_KIND_TYPES: dict[str, object] = {
    INT: int,
    DOUBLE: float,
    BOOL: bool,
    STR: str,
    LIST: tuple[str, ...],
    LISTENERS: tuple[Listener, ...],
}

# the types of the resolved attributes: never unset, whatever their raw key's default
_RESOLVED_TYPES: dict[str, object] = {
    "broker_id": int,
    "node_id": int,
    "advertised_listeners": tuple[Listener, ...],
    "log_dirs": tuple[str, ...],
    "log_retention_ms": int,
    "log_roll_ms": int,
}


def _fields() -> list[tuple[str, object, object]]:
    resolved_defaults = _resolve({}, [])
    assert set(resolved_defaults) == set(_RESOLVED_TYPES) <= {attribute_of(key) for key in BROKER_CONFIG_KEYS}
    fields: list[tuple[str, object, object]] = []
    for key, spec in BROKER_CONFIG_KEYS.items():
        attr = attribute_of(key)
        if attr in _RESOLVED_TYPES:
            fields.append((attr, _RESOLVED_TYPES[attr], resolved_defaults[attr]))
        else:
            fields.append((attr, _type_of(spec), spec.default))
    return fields


def _type_of(spec: ConfigKey) -> object:
    kind = _KIND_TYPES[spec.kind]
    return kind | None if spec.default is None else kind


#: The typed broker config: :class:`BrokerConfigBase`'s methods, one field per broker key.
BrokerConfig = msgspec.defstruct(
    "BrokerConfig",
    _fields(),
    bases=(BrokerConfigBase,),
    module=__name__,
    frozen=True,
    kw_only=True,
    repr_omit_defaults=True,
)
BrokerConfig.__doc__ = """The typed broker config: one attribute per broker key, resolved where Kafka resolves.

Build one with :meth:`from_properties` or :meth:`defaults`; ``BrokerConfig()`` is the
defaults too. ``broker_id``/``node_id``, ``advertised_listeners``, ``log_dirs``,
``log_retention_ms`` and ``log_roll_ms`` hold the value resolved from several keys,
not the raw key of that name, which :meth:`get` answers. Immutable, hashable,
picklable and msgpack-encodable, because it crosses process boundaries to actors.
:attr:`properties` holds the keys that were set, normalised (products evaluated),
for storage, whose precedence rules need "set" told apart from "defaulted".
"""
