"""Constants and error types of the HSX value/command services (spec hsx-vm.md §12).

A leaf module with no imports: status codes, flags, modes, limits, SVC function numbers,
descriptor types, and the error tree::

    ValCmdError(Exception)
     ├── MetadataError      an image's metadata cannot be registered; nothing was registered
     └── ValCmdRequestError a host request is malformed (e.g. a non-numeric ``val.set`` value)

Guest SVCs never raise these: they answer with the status codes below.
"""

from __future__ import annotations

# -- status codes (§12; hsx-executive §10.3) -------------------------------------------------
OK = 0
ENOENT = 1  # no such OID, or (CMD_HELP) no name descriptor
EPERM = 2  # RO value, non-owner on an auth > 0 entry, non-owner command call, PIN command
ENOSPC = 3  # table full or string pool full
EINVAL = 4  # bad arguments, bad descriptor chain, any unexpected failure inside a handler
EEXIST = 5  # the OID is already registered in that table
EBUSY = 6  # values: the rate limit has not elapsed
ENOASYNC = 6  # commands: CMD_CALL_ASYNC on a command without the ASYNC flag (same number)
EFAIL = 7  # commands: the host handler raised

# -- flags (§12.1, §12.2) -----------------------------------------------------------------------
VAL_RO = 0x01  # VAL_SET always EPERM
VAL_PERSIST = 0x02  # a stored change is handed to the persistence hook (needs a persist key)
VAL_STICKY = 0x04  # stored and reported, no behaviour in the reference
VAL_PIN = 0x08  # stored and reported, no behaviour for values
VAL_BOOL = 0x10  # stored and reported, no behaviour
CMD_PIN = 0x01  # every call EPERM (there is no token validator)
CMD_ASYNC = 0x02  # CMD_CALL_ASYNC allowed

# -- VAL_PERSIST modes (§12.1) --------------------------------------------------------------------
PERSIST_VOLATILE = 0  # clear PERSIST: changes are not saved
PERSIST_LOAD = 1  # load the stored value now, do not save changes
PERSIST_LOAD_SAVE = 2  # load now and save every later change (sets PERSIST)

# -- limits (§12; hsx-executive §10.3 "desktop defaults") -----------------------------------------
MAX_VALUES = 256
MAX_COMMANDS = 256
STRING_POOL_BYTES = 4096
#: ``warning`` in the statistics turns true at this usage (our choice; the spec names the field only)
WARNING_PCT = 80.0

# -- function numbers (§12.1, §12.2) ---------------------------------------------------------------
VAL_REGISTER = 0x00
VAL_LOOKUP = 0x01
VAL_GET = 0x02
VAL_SET = 0x03
VAL_LIST = 0x04
VAL_SUB = 0x05
VAL_PERSIST_FN = 0x06  # VAL_PERSIST is the flag 0x02
CMD_REGISTER = 0x00
CMD_LOOKUP = 0x01
CMD_CALL = 0x02
CMD_CALL_ASYNC = 0x03
CMD_HELP = 0x04

# -- descriptor types and their sizes in bytes (§12.1, §12.2) -----------------------------------------
DESC_GROUP = 0x01  # 0 type, 1 group id, 2 next, 4 name ptr
DESC_NAME = 0x02  # 0 type, 2 next, 4 name ptr
DESC_UNIT = 0x03  # 0 type, 2 next, 4 unit code (u32), 8 epsilon f16, 10 rate ms
DESC_RANGE = 0x04  # 0 type, 2 next, 4 min f16, 6 max f16
DESC_PERSIST = 0x05  # 0 type, 2 next, 4 key, 6 debounce ms
DESC_COMMAND = 0x10  # 0 type, 2 next, 4 name ptr, 6 help ptr
DESC_SIZE = {DESC_GROUP: 6, DESC_NAME: 6, DESC_UNIT: 12, DESC_RANGE: 8, DESC_PERSIST: 8, DESC_COMMAND: 8}
NONE_PTRS = (0x0000, 0xFFFF)  # "no descriptor" / "no string" / end of chain


class ValCmdError(Exception):
    """Base of the value/command service errors (host-side API only)."""


class MetadataError(ValCmdError):
    """An image's value/command metadata cannot be registered; nothing was registered.

    ``code`` is the stable wire string (hsx-executive §7.3 style), e.g.
    ``metadata_value_duplicate:1:2`` or ``metadata_command_exists:3:0``; the message adds
    what was found and how to fix it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ValCmdRequestError(ValCmdError):
    """A host request is malformed; the message is the executive's error string."""
