"""The HSX virtual machine as a pure synchronous library (DESIGN.md §2; spec hsx-vm.md).

No asyncio, no threads, no file or socket I/O, and no imports from other executive packages.
Core modules: ``isa`` (the opcode table), ``cpu`` (machine state and run loop, with the block
compiler ``_compile`` and the interpreter ``_interp``), ``f16`` (half floats), ``mailbox``
(the §11 manager), ``svc`` (stand-alone system calls), ``runner`` (``executive hsx run``).
Tools live beside them: ``hxe``, ``asm``, ``disasm``.
"""

from ._halt import HaltReason
from .cpu import Cpu, CpuError, MemAccess
from .isa import (
    BY_MNEMONIC,
    ERR_DIV_ZERO,
    ERR_ENOSYS,
    ERR_MEM_FAULT,
    ERR_STACK_OVERFLOW,
    ERR_STACK_UNDERFLOW,
    FLAG_C,
    FLAG_N,
    FLAG_V,
    FLAG_Z,
    OPCODES,
    Form,
    OpInfo,
    decode_fields,
    encode,
    sext12,
)
from .mailbox import MailboxError, MailboxManager, MailboxStatus
from .runner import RunResult, run_standalone
from .svc import StandaloneHost

__all__ = [
    "BY_MNEMONIC",
    "ERR_DIV_ZERO",
    "ERR_ENOSYS",
    "ERR_MEM_FAULT",
    "ERR_STACK_OVERFLOW",
    "ERR_STACK_UNDERFLOW",
    "FLAG_C",
    "FLAG_N",
    "FLAG_V",
    "FLAG_Z",
    "OPCODES",
    "Cpu",
    "CpuError",
    "Form",
    "HaltReason",
    "MailboxError",
    "MailboxManager",
    "MailboxStatus",
    "MemAccess",
    "OpInfo",
    "RunResult",
    "StandaloneHost",
    "decode_fields",
    "encode",
    "run_standalone",
    "sext12",
]
