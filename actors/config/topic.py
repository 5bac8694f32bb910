"""Topic configs: validating overrides, flagging values not in effect, and the values in force.

Topic configs are typed at a command line (``topics create --config``, ``configs
set --topic``), so unlike a broker file an unknown key is refused rather than
warned about: silently ignoring ``retention.hours`` would keep data for a week.
Which broker key supplies a topic key's default is not written here; it is
:data:`storage.config.TOPIC_DEFAULTS_FROM_BROKER`, shared with the log config
the partition leaders run with, so what ``configs describe`` shows is what the
log does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from storage.compaction import cleanup_policies
from storage.config import topic_over_broker

from .keys import BROKER_CONFIG_KEYS, TOPIC_CONFIG_KEYS, ConfigKey, suggest, unknown
from .values import ConfigError

if TYPE_CHECKING:
    from .broker import BrokerConfig


def validate_topic_configs(configs: Mapping[str, object]) -> dict[str, str]:
    """Check topic overrides and return them normalised (``"7 * 24"`` → ``"168"``).

    Unknown keys are refused, not warned about: a topic config is typed at a
    command line, and silently ignoring ``retention.hours`` would keep data for a week.
    """
    out: dict[str, str] = {}
    for raw_key, raw_value in configs.items():
        key = str(raw_key).strip()
        spec = TOPIC_CONFIG_KEYS.get(key)
        if spec is None:
            message = unknown("topic config", key, TOPIC_CONFIG_KEYS)
            if suggest(key, TOPIC_CONFIG_KEYS) is None:
                message += "; known topic configs: " + ", ".join(sorted(TOPIC_CONFIG_KEYS))
            raise ConfigError(message, key=key, value=raw_value,
                              allowed="one of " + ", ".join(sorted(TOPIC_CONFIG_KEYS)))
        out[key] = spec.format(spec.parse(raw_value))
    return out


#: What the broker says at startup when its cleaner is off.
CLEANER_DISABLED = ("log.cleaner.enable=false: topics whose cleanup.policy includes compact (__consumer_offsets "
                    "among them) are not compacted and keep every record")
_NOT_COMPACTED = "log.cleaner.enable=false: the log cleaner does not run, so the topic is not compacted"


def cleaner_disabled(broker: "BrokerConfig", configs: Mapping[str, object]) -> bool:
    """True when ``configs`` ask for compaction that the broker's ``log.cleaner.enable=false`` prevents."""
    policy = configs.get("cleanup.policy")
    return policy is not None and not broker.log_cleaner_enable and "compact" in cleanup_policies(str(policy))


def topic_config_warnings(configs: Mapping[str, object], broker: "BrokerConfig | None" = None) -> list[str]:
    """One warning per topic key set to a value zafka does not act on (validated keys only).

    With ``broker``, also a compaction its ``log.cleaner.enable=false`` prevents.
    """
    out = []
    for key, value in configs.items():
        warning = TOPIC_CONFIG_KEYS[key].warning_for(value)
        if warning:
            out.append(warning)
    if broker is not None and cleaner_disabled(broker, configs):
        out.append(f"cleanup.policy={configs['cleanup.policy']} has no effect: {_NOT_COMPACTED}")
    return out


def not_in_effect(keys: Mapping[str, ConfigKey], values: Mapping[str, object],
                  broker: "BrokerConfig | None" = None) -> dict[str, str]:
    """key -> why, for every value in ``values`` that zafka does not act on (what ``configs get`` flags).

    With ``broker`` (topic values), also a ``cleanup.policy`` that ``log.cleaner.enable=false`` keeps
    from compacting.
    """
    out = {}
    for key, value in values.items():
        spec = keys.get(key)
        if spec is not None and value not in (None, "") and not spec.takes_effect(value):
            out[key] = spec.not_in_effect_reason() or "not in effect yet"
    if broker is not None and cleaner_disabled(broker, values):
        out["cleanup.policy"] = _NOT_COMPACTED
    return out


def _parse_broker_value(key: str, raw: object) -> object:
    return BROKER_CONFIG_KEYS[key].parse(raw)


def effective_topic_configs(
    broker: "BrokerConfig | Mapping[str, object]", overrides: Mapping[str, str]
) -> dict[str, str]:
    """Every topic key with the value in force: the topic's override, else the broker's, else the key's default.

    ``broker`` is the broker's typed config or the properties it was built from
    (the keys that were set); only keys that were set count as the broker's, so
    an unset broker key leaves the topic key's own default, which the key table
    keeps equal to the broker key's default.
    """
    props = broker if isinstance(broker, Mapping) else broker.properties
    out: dict[str, str] = {}
    for key, spec in TOPIC_CONFIG_KEYS.items():
        if key in overrides:
            out[key] = str(overrides[key])
            continue
        value = topic_over_broker(key, {}, props, _parse_broker_value)
        if value is None:
            value = spec.default
        if value is not None:
            out[key] = spec.format(value)
    return out
