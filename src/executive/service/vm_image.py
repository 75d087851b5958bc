"""What a load reply says about an HXE image: layout, header fields, metadata entries (spec hsx-executive §7.3)."""

from __future__ import annotations

from typing import Any

from executive.runtimes.vm_task import VmTask

__all__ = ["image_info"]


def image_info(vt: VmTask) -> dict[str, Any]:
    """The image block of a load reply (spec hsx-executive §3.4, §7.3): layout, header fields and the
    metadata as four lists — ``sections``, ``values``, ``commands``, ``mailboxes``."""
    img = vt.image
    return {
        "pid": vt.pid,
        "task": vt.pid,
        "name": vt.task.name,
        "program": vt.path,
        "entry": img.entry,
        "code_len": len(img.code),
        "ro_len": len(img.rodata),
        "bss": img.bss_size,
        "version": img.version,
        "flags": img.flags,
        "req_caps": img.req_caps,
        "app_name": vt.app_name,
        "app_name_base": vt.app_name_base,
        "allow_multiple_instances": img.allow_multiple_instances,
        "manifest_present": bool(img.flags & 0x0001),
        "meta_count": len(img.sections),
        "metadata": {
            "sections": [
                {"type": s.type, "offset": s.offset, "size": s.size, "entry_count": s.entry_count} for s in img.sections
            ],
            "values": [_value_info(v) for v in img.values],
            "commands": [_command_info(c) for c in img.commands],
            "mailboxes": [_mailbox_info(m) for m in img.mailboxes],
        },
        "state": vt.summary()["state"],
    }


def _value_info(v: Any) -> dict[str, Any]:
    """A declared value as the load reply lists it (spec hsx-executive §7.3; f16 fields raw)."""
    return {
        "group_id": v.group, "value_id": v.value_id, "oid": (v.group << 8) | v.value_id, "flags": v.flags,
        "auth_level": v.auth, "init_f16": v.init, "name": v.name, "unit": v.unit, "epsilon_f16": v.epsilon,
        "min_f16": v.min, "max_f16": v.max, "persist_key": v.persist_key, "group_name": v.group_name,
    }  # fmt: skip


def _command_info(c: Any) -> dict[str, Any]:
    """A declared command as the load reply lists it (spec §7.3)."""
    return {
        "group_id": c.group, "cmd_id": c.cmd_id, "oid": (c.group << 8) | c.cmd_id, "flags": c.flags,
        "auth_level": c.auth, "handler_offset": c.handler_offset, "name": c.name, "help": c.help,
        "group_name": c.group_name,
    }  # fmt: skip


def _mailbox_info(m: Any) -> dict[str, Any]:
    """A declared mailbox as the load reply lists it (spec §7.3)."""
    return {
        "target": m.target, "capacity": m.capacity, "mode_mask": m.mode_mask, "owner_pid": m.owner_pid,
        "bindings": [{"pid": p, "flags": f} for p, f in m.bindings],
    }  # fmt: skip
