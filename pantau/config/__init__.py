"""Loading YAML configuration (device profiles, site configs, rules) into pydantic models.

Errors name the file, the entry and the field, e.g.
`sites/ampal.yaml: devices[2] 'wl-hulu': register 2002: type: 'float23' is not one of int16, uint16, ...`.
"""

from pantau.config.durations import Duration, format_duration, parse_duration
from pantau.config.files import ConfigError, YamlDocument, load_yaml_model, read_yaml, validate_model
from pantau.config.positions import Mark, Marks

__all__ = [
    "ConfigError",
    "Duration",
    "Mark",
    "Marks",
    "YamlDocument",
    "format_duration",
    "load_yaml_model",
    "parse_duration",
    "read_yaml",
    "validate_model",
]
