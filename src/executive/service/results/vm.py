"""Result shapes of ``Executive.vm``: HSX programs, the scheduler clock, registers, memory, mailboxes.

Plain-dict TypedDicts (core.py says why).  Several replies carry both our field
names and the HSX executive protocol's (spec hsx-executive §3.4, §8.5), so the HSX
TCP port can pass them on unchanged.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from executive.service.results.core import TaskInfo

__all__ = [
    "ClockStatus",
    "MailboxDescriptor",
    "MailboxSendResult",
    "MailboxSnapshot",
    "MemRead",
    "MemRegion",
    "MemWritten",
    "Registers",
    "StdioFanoutConfig",
    "StdioStreamMode",
    "SymbolSummary",
    "VmBreak",
    "VmLoaded",
    "VmOverview",
    "VmProcesses",
    "VmRegions",
    "VmScheduler",
    "VmStepResult",
    "VmTaskEntry",
    "VmTaskInfo",
]


class VmMetadataCounts(TypedDict):
    values: int
    commands: int
    mailboxes: int
    sections: int


class VmTaskEntry(TypedDict):
    """An HSX task entry (spec hsx-executive §3.4) plus our fields; ``wait_*`` while blocked on a mailbox."""

    pid: int
    program: str | None
    state: str
    vm_state: str
    app_name: str
    app_name_base: str
    pc: int
    priority: int
    quantum: int
    clocked: bool
    accounted_steps: int
    accounted_cycles: int
    sleep_pending: bool
    sleep_pending_ms: int | None
    sleep_deadline: float | None
    exit_status: int | None
    fault: dict[str, Any] | None
    pause_reason: str | None
    reg_base: int
    stack_base: int
    stack_limit: int
    stack_size: int
    metadata: VmMetadataCounts
    wait_mailbox: NotRequired[int | None]
    wait_handle: NotRequired[int | None]
    wait_timeout: NotRequired[int | None]
    wait_deadline: NotRequired[float | None]


class VmTaskInfo(VmTaskEntry):
    """``vm.info``: the task entry plus the task row."""

    task: TaskInfo


class VmProcesses(TypedDict):
    tasks: list[VmTaskEntry]
    current_pid: int | None


class MetaSection(TypedDict):
    type: int
    offset: int
    size: int
    entry_count: int


class ImageMetadata(TypedDict):
    """The image's metadata sections and their parsed entries: four lists (spec hsx-executive §7.3)."""

    sections: list[MetaSection]
    values: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    mailboxes: list[dict[str, Any]]


class SymbolSummary(TypedDict):
    """Whether a task has symbols, from where, how many (``sym.info``)."""

    pid: int
    loaded: bool
    path: str | None
    count: NotRequired[int]
    counts: NotRequired[dict[str, int]]
    error: NotRequired[str]
    warnings: NotRequired[list[str]]


class VmLoaded(TypedDict):
    """``vm.load``: the image's layout and metadata, its symbols, and load warnings."""

    pid: int
    task: int
    name: str
    program: str | None
    entry: int
    code_len: int
    ro_len: int
    bss: int
    version: int
    flags: int
    req_caps: int
    app_name: str
    app_name_base: str
    allow_multiple_instances: bool
    manifest_present: bool
    meta_count: int
    metadata: ImageMetadata
    state: str
    symbols: SymbolSummary
    warnings: list[str]


class VmBreak(TypedDict):
    """A ``debug_break``: where and why a task stopped for the debugger."""

    pc: int
    phase: str
    reason: str
    symbol: NotRequired[str | None]
    changed_regs: NotRequired[Any]


class VmStepResult(TypedDict):
    """A step of a paused task; the debugger adds ``changed_regs``, ``symbol``, ``line`` and, for
    step-over and source steps, how it ended."""

    pid: int
    executed: int
    pc: int
    prev_pc: int
    steps: int
    halt: str
    state: str
    regs: list[int]
    debug_break: NotRequired[VmBreak]
    changed_regs: NotRequired[Any]
    symbol: NotRequired[str | None]
    line: NotRequired[dict[str, Any] | None]
    over: NotRequired[bool]
    stop: NotRequired[str]
    source_steps: NotRequired[int]


class ClockStepResult(TypedDict):
    executed: int
    running: bool
    current_pid: int | None


class ClockStatus(TypedDict):
    state: str
    running: bool
    mode: str
    throttled: bool
    rate_hz: int
    step_size: int
    auto_total_steps: int
    clocked_tasks: int
    result: NotRequired[ClockStepResult]


class _RegisterNames(TypedDict):
    R0: int
    R1: int
    R2: int
    R3: int
    R4: int
    R5: int
    R6: int
    R7: int
    R8: int
    R9: int
    R10: int
    R11: int
    R12: int
    R13: int
    R14: int
    R15: int
    PC: int
    SP: int
    PSW: int


class Registers(_RegisterNames):
    """Registers, by list and by HSX name (``R0``..``R15``, ``PC``, ``SP``, ``PSW``)."""

    pid: int
    pc: int
    regs: list[int]
    sp: int
    flags: int
    psw: int
    running: bool
    steps: int
    cycles: int
    depth: int
    reg_base: int
    stack_base: int
    stack_limit: int
    stack_size: int
    sp_effective: int
    state: str


class MemRead(TypedDict):
    pid: int
    addr: int
    length: int
    data: str
    truncated: bool


class MemWritten(TypedDict):
    pid: int
    addr: int
    length: int


class MemRegion(TypedDict):
    name: str
    type: str
    start: int
    length: int
    end: int
    permissions: str
    source: str
    space: str
    details: NotRequired[dict[str, int]]


class RegionsLayout(TypedDict):
    entry: int
    code_len: int
    ro_len: int
    bss: int
    app_name: str
    version: int


class VmRegions(TypedDict):
    pid: int
    program: str | None
    regions: list[MemRegion]
    layout: RegionsLayout


class MailboxDescriptor(TypedDict):
    descriptor_id: int
    target: str
    namespace: int
    name: str
    owner_pid: int | None
    capacity: int
    bytes_used: int
    queue_depth: int
    mode_mask: int
    subscriber_count: int
    waiters: list[Any]  # what blocks on the descriptor (task ids)


class MailboxStats(TypedDict):
    descriptors: int
    max_descriptors: int


class MailboxSnapshot(TypedDict):
    descriptors: list[MailboxDescriptor]
    stats: MailboxStats


class MailboxSendResult(TypedDict):
    mbx_status: int
    length: int
    descriptor: int
    target: str


class VmCounters(TypedDict):
    steps: int
    slices: int
    state: str


class VmScheduler(TypedDict):
    """The scheduler as the HSX ``sched`` and ``info`` replies show it."""

    quantum: int
    total_steps: int
    counters: dict[int, VmCounters]


class VmOverview(TypedDict):
    """What the HSX ``info`` reply summarises about the programs."""

    loaded: bool
    program: str | None
    runnable: bool
    sleeping: bool
    current_pid: int | None
    current_pc: int | None
    held: list[int]


class StdioStreamMode(TypedDict):
    """One stdio descriptor's mode: ``off``, ``fanout``, ``fanout_block`` or ``tap``."""

    stream: str
    mode_mask: int
    mode: str


class StdioFanoutConfig(TypedDict):
    """``vm.stdio_fanout`` / HSX ``stdio_fanout`` (spec hsx-executive §10.2)."""

    scope: str
    streams: list[StdioStreamMode]
    default: NotRequired[list[StdioStreamMode]]
    tasks: NotRequired[list[dict[str, Any]]]
    pid: NotRequired[int]
    mode: NotRequired[str]
    mode_mask: NotRequired[int]
    applied: NotRequired[list[dict[str, Any]]]
