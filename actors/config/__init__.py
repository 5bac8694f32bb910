"""Broker and topic configuration: a Kafka ``server.properties`` read with Kafka's key names.

One module per concept, in the order data flows through them:

* :mod:`.properties` — the file's syntax (``java.util.Properties``), knowing no keys;
* :mod:`.values` — the value grammars (integers and products such as ``7 * 24``,
  booleans, listeners) and :class:`ConfigError`;
* :mod:`.keys` — the one table of known keys, zafka's ``ConfigDef``: type, default,
  allowed values, doc, and whether zafka acts on the key yet;
* :mod:`.broker` — :class:`BrokerConfig`, generated from the table, which the
  supervisor hands whole to every actor;
* :mod:`.topic` — topic overrides and the values in force, with topic-over-broker
  precedence taken from :data:`storage.config.TOPIC_DEFAULTS_FROM_BROKER`;
* :mod:`.evidence` — the test behind every key the table says is in effect.

Rules a Kafka user will recognise: ``log.dirs`` beats ``log.dir``;
``log.retention.ms`` beats ``.minutes`` beats ``.hours``; ``advertised.listeners``
defaults to ``listeners``; a topic's own config beats the broker's ``log.*`` default
(:meth:`BrokerConfig.log_config_for`). Two conveniences Kafka does not have: integer
keys accept products (the course notes write them that way; evaluated without
``eval``), and unknown keys come back as warnings with a close known key suggested,
never silently dropped and never printed from here. Everything is pure: the only
file-system access is :func:`load_properties` and :meth:`BrokerConfig.ensure_log_dirs`,
both called explicitly.
"""

from storage.config import HOUR_MS

from .broker import BrokerConfig
from .keys import (
    BOOL,
    BROKER_CONFIG_KEYS,
    INT,
    KINDS,
    LIST,
    LISTENERS,
    STR,
    TOPIC_CONFIG_KEYS,
    ConfigKey,
    config_help,
)
from .properties import load_properties, parse_properties
from .topic import effective_topic_configs, not_in_effect, topic_config_warnings, validate_topic_configs
from .values import INT_MAX, LONG_MAX, SHORT_MAX, ConfigError, Listener, parse_int_expr, parse_listeners

__all__ = [
    "BROKER_CONFIG_KEYS",
    "BrokerConfig",
    "ConfigError",
    "ConfigKey",
    "Listener",
    "TOPIC_CONFIG_KEYS",
    "config_help",
    "effective_topic_configs",
    "load_properties",
    "not_in_effect",
    "parse_int_expr",
    "parse_listeners",
    "parse_properties",
    "topic_config_warnings",
    "validate_topic_configs",
]

# also importable from here, as before the package split, though not part of __all__
_COMPATIBLE = (BOOL, HOUR_MS, INT, INT_MAX, KINDS, LIST, LISTENERS, LONG_MAX, SHORT_MAX, STR)
