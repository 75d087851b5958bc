"""Every limit a user can reach, in one place.

A limit exists for each size a client controls (DESIGN.md §7).  Exceeding one
is a :class:`~executive.kernel.errors.LimitError` naming the limit and its
value, never a crash.  The daemon takes one :class:`Limits` at start; tests
build their own with smaller numbers.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DEFAULT_LIMITS", "Limits", "nested_deeper_than"]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    # --- sessions -------------------------------------------------------------
    max_sessions: int = 64  # open sessions at once
    session_idle_s: float = 300.0  # a session without keepalive for this long expires
    session_resume_grace_s: float = 60.0  # a resumable session outlives its last connection this long
    max_locks_per_session: int = 256  # tasks one session may lock
    # --- wire -----------------------------------------------------------------
    max_frame_bytes: int = 4 * 1024 * 1024  # one incoming WebSocket frame / TCP line
    max_batch: int = 100  # requests in one JSON-RPC batch
    max_connections: int = 256  # concurrent client connections that presented the token
    max_unauthenticated: int = 16  # ... that did not (a separate pool: they cannot lock out the token holders)
    auth_deadline_s: float = 5.0  # a connection without a valid token is closed after this long
    max_queued_reply_bytes: int = 64 * 1024 * 1024  # replies a client has not read yet; past it it is dropped
    max_inflight: int = 1024  # requests running at once on one connection (more are refused, not queued)
    # --- events ---------------------------------------------------------------
    max_subscriptions: int = 256  # all connections together
    max_subscriptions_per_connection: int = 32  # one client cannot take every subscription
    subscription_events: int = 8192  # ring capacity of one subscription (events)
    subscription_bytes: int = 4 * 1024 * 1024  # ... and its payload bytes (output beyond it is read from the log)
    subscription_control_events: int = 65536  # control events (task state, quota, ...) one subscription holds; never
    # dropped for output, only past this bound, which thousands of task lifecycles stay under
    history_events: int = 65536  # bus history kept for since_seq replay (events)
    history_bytes: int = 4 * 1024 * 1024  # ... and its payload bytes (output is on disk; replay it by offset)
    event_batch_events: int = 4096  # events per `events` notification frame
    event_batch_bytes: int = 1024 * 1024  # payload bytes per notification frame
    max_event_filters: int = 256  # entries in one subscription's type or task filter
    # --- tasks ----------------------------------------------------------------
    max_running: int = 16  # tasks running at once; more wait in the FIFO queue
    max_queued: int = 1024  # tasks waiting in the queue
    max_tasks_in_memory: int = 10000  # ended tasks beyond this are dropped from memory (kept in the store)
    tasks_restored: int = 1000  # newest tasks loaded at start-up with every live one (older: read on demand)
    max_task_page: int = 1000  # tasks in one page of task.list (page on with its `next` cursor)
    max_argv: int = 4096  # entries in argv
    max_argv_bytes: int = 256 * 1024  # total bytes of argv + env
    max_env: int = 512  # entries in the env mapping
    max_name: int = 128  # characters in a task name
    output_chunk_bytes: int = 64 * 1024  # largest data slice in one `output` event
    output_read_bytes: int = 4 * 1024 * 1024  # largest slice one task.output call returns
    output_quota_bytes: int = 1024 * 1024 * 1024  # default per-task log quota (stdout+stderr)
    max_output_quota_bytes: int = 256 * 1024**3  # largest quota a client may set (run --quota, task.set_quota)
    max_input_bytes: int = 1024 * 1024  # one task.input call
    kill_grace_s: float = 5.0  # SIGTERM -> SIGKILL grace on cancel
    exit_linger_s: float = 1.0  # after the leader exits, how long children may hold the pipes
    max_wait_s: float = 3600.0  # longest task.wait
    # --- agents, patches, patterns, fix loop -----------------------------------
    agent_prompt_bytes: int = 192 * 1024  # one agent prompt (it travels in argv, which max_argv_bytes bounds)
    agent_line_bytes: int = 64 * 1024 * 1024  # one line of agent output; longer lines are skipped with a warning
    agent_event_text_bytes: int = 256 * 1024  # text carried by one normalized agent event (the log keeps all)
    agent_replay_events: int = 20000  # events one agent.replay call returns
    agent_version_timeout_s: float = 15.0  # `<agent> --version` during agent check
    agent_idle_timeout_s: float = 600.0  # an agent run without progress this long is stopped (0: never)
    max_worktrees: int = 64  # executive-made git worktrees alive at once
    git_timeout_s: float = 300.0  # one internal git command
    patch_bytes: int = 16 * 1024 * 1024  # one patch text
    patch_files: int = 2000  # files touched by one patch
    patch_snapshot_bytes: int = 256 * 1024 * 1024  # pre-apply content kept for rollback of one patch
    verify_timeout_s: float = 3600.0  # a patch verification or fix-loop test command
    fix_max_iterations: int = 50  # --max-iterations of one fix loop
    fix_output_tail_bytes: int = 32 * 1024  # failing test output handed to the agent
    max_fix_runs: int = 8  # fix loops running at once
    pattern_instance_bytes: int = 1024 * 1024  # one pattern instance document
    pattern_files: int = 200  # files one pattern run may create or change
    pattern_file_bytes: int = 4 * 1024 * 1024  # one file a pattern writes
    max_user_patterns: int = 256  # pattern files loaded from the user directory
    # --- pipelines --------------------------------------------------------------
    pipeline_file_bytes: int = 256 * 1024  # one pipeline YAML file
    pipeline_max_phases: int = 32  # phases in one pipeline
    pipeline_max_steps: int = 64  # steps in one phase
    pipeline_max_checks: int = 64  # exit-gate checks (and entry commands) in one phase
    pipeline_max_iterations: int = 50  # iterations a file may ask for, per phase and overall
    pipeline_requirement_bytes: int = 64 * 1024  # the requirement text of a run
    pipeline_max_active_runs: int = 16  # runs executing or waiting for approval at once
    pipeline_check_output_bytes: int = 1024 * 1024  # tail of a check command's stdout read for scoring
    pipeline_diff_bytes: int = 64 * 1024  # "diff so far" put into an agent's rework prompt
    pipeline_prompt_bytes: int = 128 * 1024  # one rendered agent prompt (it travels in argv, beside the env)

    # --- programs (restart policies and the programs file) ------------------------
    programs_file_bytes: int = 256 * 1024  # one programs file (YAML)
    max_programs: int = 256  # programs supervised at once (a programs file and `run --restart` together)
    program_max_restarts: int = 10000  # the largest max_restarts a program may ask for
    program_backoff_max_s: float = 24 * 3600.0  # the largest backoff_max (and backoff_base, reset_after)

    # --- HSX programs (vm tasks) ------------------------------------------------
    max_vm_tasks: int = 256  # HSX programs loaded at once
    max_hxe_bytes: int = 1024 * 1024  # one HXE image (path or upload)
    max_sym_bytes: int = 8 * 1024 * 1024  # one .sym file
    vm_max_descriptors: int = 8192  # mailbox descriptors of all VM tasks together
    vm_quantum: int = 20000  # instructions per scheduler slice (~1 ms of work; a block ends a slice early)
    max_breakpoints: int = 256  # per task
    max_watches: int = 64  # per task
    max_trace_buffer: int = 65536  # trace records per task
    max_step: int = 1_000_000  # instructions in one debugger step request
    max_mem_read: int = 65536  # bytes in one memory read/write
    max_disasm: int = 1024  # instructions in one disassembly request
    max_stack_frames: int = 256  # frames in one stack walk
    # --- cc_executor endpoint (api/ccx.py) -----------------------------------------
    ccx_max_sessions: int = 100  # cc_executor sessions at once, both endpoints together (the reference's MAX_SESSIONS)
    ccx_ping_interval_s: float = 30.0  # the app-level `ping` notification (a client need not answer it)
    # --- HSX TCP port (api/hsx_tcp.py) -------------------------------------------
    hsx_max_line_bytes: int = 1024 * 1024  # one request line (without its newline)
    hsx_max_connections: int = 64  # concurrent connections to the HSX port
    hsx_dmesg_entries: int = 512  # entries the port's dmesg ring keeps
    max_symbols_page: int = 1000  # symbols in one debug.sym.list page


DEFAULT_LIMITS = Limits()


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether lists/dicts in ``value`` nest more than ``limit`` levels.

    Iterative, so a hostile document cannot exhaust the stack while it is measured; check a
    parsed document with it before code that recurses over it (validation, encoding).
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False
