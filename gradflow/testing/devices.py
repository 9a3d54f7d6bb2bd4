"""Device lists for the checking tools: unknown names are usage errors, unavailable ones are
reported with the reason, and `all` means every available device."""

from __future__ import annotations

from gradflow.errors import BackendUnavailableError, ConfigError


class UnknownDeviceError(ConfigError):
    """A device name gradflow does not know (a typo such as 'cdua'): a usage error."""


def parse_device_list(text: str) -> list[str]:
    """'cpu, strict:device1' -> ['cpu', 'strict:device1']; 'all' -> every available device."""
    from gradflow.backends import available_devices

    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if names == ["all"]:
        return [name for name, status in available_devices().items() if status == "available"]
    if not names:
        raise UnknownDeviceError(f"no device named in {text!r}: give e.g. 'cpu,strict' or 'all'")
    for name in names:
        check_known(name)
    return names


def check_known(name) -> None:
    """Raise UnknownDeviceError unless `name` is a device gradflow knows (available or not)."""
    from gradflow.backends import _canonical

    if isinstance(name, str) and name.strip().lower() == "all":
        raise UnknownDeviceError("'all' stands alone: give it as the whole device list")
    try:
        _canonical(name)
    except BackendUnavailableError as exc:
        raise UnknownDeviceError(f"unknown device {name!r}: {exc}") from None


def unavailable_reason(name: str) -> str | None:
    """None when `name` is usable here, else why not (for a known name)."""
    from gradflow.backends import get_backend

    try:
        get_backend(name)
    except BackendUnavailableError as exc:
        return str(exc)
    return None


def split_available(devices) -> tuple[list[str], dict[str, str]]:
    """(usable names, {missing name: reason}); unknown names raise UnknownDeviceError."""
    if isinstance(devices, str):
        devices = parse_device_list(devices)
    usable, missing = [], {}
    for name in devices:
        check_known(name)
        reason = unavailable_reason(name)
        if reason is None:
            usable.append(name)
        else:
            missing[name] = reason
    return usable, missing
