"""``PriorityQueuePolicy``: priority lanes, fairness, limits, budgets, approvals and retries."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Literal

import attrs

from .._errors import ConfigError, PolicyError, QueueFull
from .._models import Priority, Session, SessionMode
from ._index import QueueIndex, group_of
from ._protocol import Admission, CostAction, CostDecision, CostTotals, QueuePolicy, Schedule

__all__ = ["ApprovalRules", "Budgets", "Capacity", "PriorityQueuePolicy", "RetryRules"]

Fairness = Literal["fifo", "round-robin", "weighted"]

_DEFAULT_LIMITS: dict[SessionMode, int | None] = {
    SessionMode.AUTONOMOUS: 4,
    SessionMode.PLANNING: 2,
    SessionMode.ORCHESTRATION: 1,
    SessionMode.INTERACTIVE: None,
    SessionMode.DISPATCH: None,
}
_DEFAULT_WEIGHTS = {
    Priority.HIGHEST: 8.0,
    Priority.HIGH: 4.0,
    Priority.MEDIUM: 2.0,
    Priority.LOW: 1.0,
}


@attrs.frozen
class Capacity:
    """What the machine can hold at once; ``None`` is unbounded.

    Attributes:
        cpus: CPU cores all active sessions may reserve together.
        memory_mb: Memory all active sessions may reserve together, in MiB.
    """

    cpus: float | None = None
    memory_mb: int | None = None


@attrs.define
class Budgets:
    """Cost budgets in USD; ``None`` is unbounded. Mutable: raise one, then resume.

    Attributes:
        session_usd: Default budget of one session (a session's own ``budget_usd`` wins).
        task_usd: All sessions of one task.
        area_usd: Per area (``"*"`` for every area not named).
        team_usd: Per team (``"*"`` for every team not named).
        day_usd: All sessions started on one UTC day.
    """

    session_usd: float | None = None
    task_usd: float | None = None
    area_usd: dict[str, float] = attrs.field(factory=dict)
    team_usd: dict[str, float] = attrs.field(factory=dict)
    day_usd: float | None = None


@attrs.define
class ApprovalRules:
    """When a person must approve (the seed's ``automatic``, ``supervised``, ``forbidden``).

    Attributes:
        supervised_above_usd: A session whose cost passes this pauses in
            ``awaiting_approval`` until approved (once approved it runs on).
        forbidden_above_usd: A session whose cost passes this is stopped for good.
        supervised: Operation flags that need approval before the session starts: a mode
            name (``"autonomous"``), ``"dangerous"``, or ``"*"`` for every session.
        forbidden: Operation flags that are refused outright.
    """

    supervised_above_usd: float | None = None
    forbidden_above_usd: float | None = None
    supervised: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()


@attrs.define
class RetryRules:
    """Retries of failed attempts, with exponential backoff and jitter.

    Attributes:
        max_retries: Retries after the first failure (default 2: three attempts in all).
        base_delay: Seconds before the first retry.
        max_delay: Upper bound of a delay.
        jitter: Relative spread of each delay (0.25: ±25%).
        retry_agent_failures: Also retry failures that are the agent's own (default: only
            infrastructure failures such as an engine restart or an overloaded API).
    """

    max_retries: int = 2
    base_delay: float = 5.0
    max_delay: float = 300.0
    jitter: float = 0.25
    retry_agent_failures: bool = False


def _flags(session: Session) -> set[str]:
    flags = {session.mode.value, "*"}
    if session.dangerous:
        flags.add("dangerous")
    return flags


class PriorityQueuePolicy(QueuePolicy):
    """Priority lanes with fairness, concurrency limits, reservations, budgets, approvals
    and retries.

    Ordering: with ``fairness="fifo"`` strictly by priority, then age. With
    ``"round-robin"`` or ``"weighted"`` the four lanes share slots in proportion to
    ``priority_weights`` (stride scheduling: no lane starves), and within a lane the groups
    (a task's ``team:`` tag, else its area) take turns (``round-robin``) or share by
    ``group_weights`` (``weighted``); within a group, oldest first. A blocked session never
    blocks the sessions behind it.

    Args:
        max_concurrent: Active sessions per mode (keys may be strings, like
            ``{"autonomous": 2}``); ``None`` is no limit. Unnamed modes keep the defaults:
            autonomous 4, planning 2, orchestration 1, interactive and dispatch unlimited.
        max_queue_size: Refuse new sessions when this many are queued.
        priority_weights: Share of each priority lane (default 8, 4, 2, 1).
        fairness: ``fifo``, ``round-robin`` or ``weighted``.
        group_weights: Weights of groups (``"team:ux"``, ``"area:api"``) for ``weighted``.
        max_per_area: Active sessions per area (``"*"`` for every area not named).
        max_per_team: Active sessions per team (``"*"`` for every team not named).
        reserved_for_highest: Slots of each limited mode that only ``highest`` may take.
        queue_dispatch: When False (the default), dispatch sessions start at once.
        capacity: What the machine can reserve in total (CPU cores, memory).
        budgets: Cost budgets.
        approvals: Approval rules.
        retries: Retry rules.
        rng: Random numbers for jitter (seed one for repeatable tests).
        scan_limit: A pass stops after this many sessions in a row that cannot start.
        one_per_task: A session waits while another session of the same task is in flight
            (two agents in one task's worktree would overwrite each other's work); False
            lets them run at once.

    Raises:
        ConfigError: an unknown mode, priority or fairness, or a negative limit.
    """

    def __init__(
        self,
        max_concurrent: Mapping[str | SessionMode, int | None] | None = None,
        *,
        max_queue_size: int | None = None,
        priority_weights: Mapping[str | Priority, float] | None = None,
        fairness: Fairness = "fifo",
        group_weights: Mapping[str, float] | None = None,
        max_per_area: Mapping[str, int] | None = None,
        max_per_team: Mapping[str, int] | None = None,
        reserved_for_highest: int = 0,
        queue_dispatch: bool = False,
        capacity: Capacity | None = None,
        budgets: Budgets | None = None,
        approvals: ApprovalRules | None = None,
        retries: RetryRules | None = None,
        rng: random.Random | None = None,
        scan_limit: int = 1000,
        one_per_task: bool = True,
    ) -> None:
        limits = dict(_DEFAULT_LIMITS)
        for key, value in (max_concurrent or {}).items():
            mode = _mode(key)
            if value is not None and value < 0:
                raise ConfigError(f"max_concurrent[{mode.value}] must be at least 0")
            limits[mode] = value
        if max_queue_size is not None and max_queue_size < 1:
            raise ConfigError("max_queue_size must be at least 1")
        if fairness not in ("fifo", "round-robin", "weighted"):
            raise ConfigError(f"fairness {fairness!r}: use fifo, round-robin or weighted")
        weights = dict(_DEFAULT_WEIGHTS)
        for key, weight in (priority_weights or {}).items():
            try:
                prio = Priority(key)
            except ValueError:
                raise ConfigError(f"priority_weights: unknown priority {key!r}") from None
            if weight <= 0:
                raise ConfigError(f"priority_weights[{prio.value}] must be positive")
            weights[prio] = float(weight)
        if reserved_for_highest < 0:
            raise ConfigError("reserved_for_highest must be at least 0")
        for name, table in (("max_per_area", max_per_area), ("max_per_team", max_per_team)):
            for key, value in (table or {}).items():
                if value < 0:
                    raise ConfigError(f"{name}[{key!r}] must be at least 0")
        self.max_concurrent: dict[SessionMode, int | None] = limits
        self.max_queue_size = max_queue_size
        self.priority_weights: dict[Priority, float] = weights
        self.fairness: Fairness = fairness
        self.group_weights = dict(group_weights or {})
        self.max_per_area = dict(max_per_area or {})
        self.max_per_team = dict(max_per_team or {})
        self.reserved_for_highest = reserved_for_highest
        self.queue_dispatch = queue_dispatch
        self.capacity = capacity or Capacity()
        self.budgets = budgets or Budgets()
        self.approvals = approvals or ApprovalRules()
        self.retries = retries or RetryRules()
        self.scan_limit = max(1, scan_limit)
        self.one_per_task = one_per_task
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._lane_pass: dict[Priority, float] = dict.fromkeys(Priority, 0.0)
        self._group_pass: dict[str, float] = {}

    # -- admission -----------------------------------------------------------------------------

    def admit(self, session: Session, *, queued: int) -> Admission:
        """Refuse a full queue or a forbidden operation; ask approval for supervised ones.

        Raises:
            QueueFull: ``queued`` has reached ``max_queue_size``.
            PolicyError: one of the session's operation flags is forbidden.
        """
        if self.max_queue_size is not None and queued >= self.max_queue_size:
            raise QueueFull(
                f"the queue holds {queued} sessions, its limit (max_queue_size="
                f"{self.max_queue_size}); wait for some to start or raise the limit"
            )
        flags = _flags(session)
        forbidden = sorted(flags & set(self.approvals.forbidden))
        if forbidden:
            raise PolicyError(f"the policy forbids {', '.join(forbidden)} sessions")
        supervised = sorted(flags & set(self.approvals.supervised))
        if supervised and not session.approved:
            return Admission(approval=f"{', '.join(supervised)} sessions need approval")
        return Admission()

    # -- scheduling ----------------------------------------------------------------------------

    def _mode_limit(self, session: Session) -> int | None:
        if session.mode is SessionMode.DISPATCH and not self.queue_dispatch:
            return None
        return self.max_concurrent.get(session.mode)

    def _blocked(
        self,
        session: Session,
        per_mode: dict[SessionMode, int],
        per_area: dict[str, int],
        per_team: dict[str, int],
        used: list[float],
        busy: set[str],
    ) -> tuple[str, str] | None:
        if self.one_per_task and session.task_id in busy:
            return (
                "task_busy",
                f"another session of task {session.task_id} is in flight; this one starts "
                "when it ends",
            )
        limit = self._mode_limit(session)
        if limit is not None:
            count = per_mode.get(session.mode, 0)
            if count >= limit:
                return (
                    "limit_reached",
                    f"{count} {session.mode.value} sessions active, limit {limit}",
                )
            if (
                session.priority is not Priority.HIGHEST
                and self.reserved_for_highest
                and count >= limit - self.reserved_for_highest
            ):
                return (
                    "reserved_slot",
                    f"{self.reserved_for_highest} of {limit} {session.mode.value} slots are "
                    "reserved for highest priority",
                )
        if session.area is not None:
            area_limit = self.max_per_area.get(session.area, self.max_per_area.get("*"))
            if area_limit is not None and per_area.get(session.area, 0) >= area_limit:
                return ("area_limit", f"area {session.area} has {area_limit} sessions active")
        if session.team is not None:
            team_limit = self.max_per_team.get(session.team, self.max_per_team.get("*"))
            if team_limit is not None and per_team.get(session.team, 0) >= team_limit:
                return ("team_limit", f"team {session.team} has {team_limit} sessions active")
        cap = self.capacity
        if cap.cpus is not None and session.cpus and used[0] + session.cpus > cap.cpus:
            return ("capacity", f"{used[0]:g} of {cap.cpus:g} CPUs reserved")
        if (
            cap.memory_mb is not None
            and session.memory_mb
            and used[1] + session.memory_mb > cap.memory_mb
        ):
            return ("capacity", f"{used[1]:g} of {cap.memory_mb} MiB reserved")
        return None

    def schedule(
        self, queued: Sequence[Session] | QueueIndex, active: Sequence[Session], *, now: datetime
    ) -> Schedule:
        """Pick queued sessions to start while their limits have room.

        ``queued`` may be a `QueueIndex` the caller keeps up to date: then a decision
        looks only at lane heads, and stops as soon as every mode with queued sessions is
        full, so its cost does not grow with the depth of the queue. Waiting reasons are
        given for the sessions the pass looked at.
        """
        index = queued if isinstance(queued, QueueIndex) else QueueIndex(queued)
        per_mode: dict[SessionMode, int] = {}
        per_area: dict[str, int] = {}
        per_team: dict[str, int] = {}
        used = [0.0, 0.0]
        busy: set[str] = set()

        def take(session: Session) -> None:
            busy.add(session.task_id)
            per_mode[session.mode] = per_mode.get(session.mode, 0) + 1
            if session.area is not None:
                per_area[session.area] = per_area.get(session.area, 0) + 1
            if session.team is not None:
                per_team[session.team] = per_team.get(session.team, 0) + 1
            used[0] += session.cpus or 0.0
            used[1] += session.memory_mb or 0

        for session in active:
            take(session)
        pending = index.modes()
        full: set[SessionMode] = set()
        waiting: dict[str, tuple[str, str]] = {}
        start: list[str] = []
        blocked_in_a_row = 0
        mode_reason: dict[SessionMode, tuple[str, str]] = {}
        order = self._order(index)
        for session in order:
            if full >= pending.keys():
                if len(index) <= self.scan_limit:
                    # A short queue: say why each of the rest waits (every mode is full).
                    for rest in (session, *order):
                        waiting[rest.id] = mode_reason[rest.mode]
                break
            if session.not_before is not None and session.not_before > now:
                waiting[session.id] = (
                    "retry_backoff",
                    f"retry at {session.not_before.isoformat()}",
                )
                continue
            reason = self._blocked(session, per_mode, per_area, per_team, used, busy)
            if reason is not None:
                waiting[session.id] = reason
                if reason[0] == "limit_reached":
                    full.add(session.mode)
                    mode_reason[session.mode] = reason
                blocked_in_a_row += 1
                if blocked_in_a_row >= self.scan_limit:
                    break
                continue
            blocked_in_a_row = 0
            take(session)
            start.append(session.id)
            self._charge(session)
            limit = self._mode_limit(session)
            if limit is not None and per_mode[session.mode] >= limit:
                full.add(session.mode)
                mode_reason[session.mode] = (
                    "limit_reached",
                    f"{limit} {session.mode.value} sessions active, limit {limit}",
                )
        return Schedule(start=tuple(start), waiting=waiting)

    def _order(self, index: QueueIndex) -> Iterator[Session]:
        """Yield queued sessions in the order they should be offered a slot."""
        if self.fairness == "fifo":
            yield from index
            return
        lanes = {prio: dict(groups) for prio, groups in index.lanes().items()}
        heads = {prio: dict.fromkeys(groups, 0) for prio, groups in lanes.items()}
        floor = min((self._lane_pass[p] for p in lanes), default=0.0)
        for prio in lanes:
            self._lane_pass[prio] = max(self._lane_pass[prio], floor)
        lane_pass = dict(self._lane_pass)
        group_pass = dict(self._group_pass)
        while lanes:
            prio = min(lanes, key=lambda p: (lane_pass[p], p.rank))
            groups = lanes[prio]
            group = min(groups, key=lambda g: (group_pass.get(g, 0.0), groups[g][heads[prio][g]]))
            position = heads[prio][group]
            session = index.get(groups[group][position][1])
            lane_pass[prio] += 1.0 / self.priority_weights[prio]
            group_pass[group] = group_pass.get(group, 0.0) + 1.0 / self._group_weight(group)
            heads[prio][group] = position + 1
            if heads[prio][group] >= len(groups[group]):
                del groups[group]
                if not groups:
                    del lanes[prio]
            if session is not None:
                yield session

    def _group_weight(self, group: str) -> float:
        if self.fairness != "weighted":
            return 1.0
        return max(self.group_weights.get(group, 1.0), 1e-9)

    def _charge(self, session: Session) -> None:
        """Account a started session to its lane and group (what makes the shares fair)."""
        if self.fairness == "fifo":
            return
        self._lane_pass[session.priority] += 1.0 / self.priority_weights[session.priority]
        group = group_of(session)
        self._group_pass[group] = self._group_pass.get(group, 0.0) + 1.0 / self._group_weight(group)

    @property
    def counts_queue(self) -> bool:
        """Whether `admit()` looks at the queued count: only with a ``max_queue_size``.
        The engine skips counting the queue when it does not (one store read less per
        request)."""
        return self.max_queue_size is not None

    # -- cost --------------------------------------------------------------------------------

    def cost_scopes(self, session: Session) -> frozenset[str]:
        """The scopes beyond the session itself (``task``, ``area``, ``team``, ``day``) whose
        totals `check_cost()` looks at for ``session``: those with a budget. The engine
        sums only these (a sum over every stored session is the costly part)."""
        budgets = self.budgets
        scopes: set[str] = set()
        if budgets.task_usd is not None:
            scopes.add("task")
        if budgets.day_usd is not None:
            scopes.add("day")
        if session.area is not None and (
            session.area in budgets.area_usd or "*" in budgets.area_usd
        ):
            scopes.add("area")
        if session.team is not None and (
            session.team in budgets.team_usd or "*" in budgets.team_usd
        ):
            scopes.add("team")
        return frozenset(scopes)

    def check_cost(self, session: Session, totals: CostTotals) -> CostDecision:
        """Forbid above the forbidden threshold, ask approval above the supervised one, pause
        when a budget is reached."""
        rules = self.approvals
        if rules.forbidden_above_usd is not None and totals.session > rules.forbidden_above_usd:
            return CostDecision(
                CostAction.FORBID,
                f"cost ${totals.session:.4f} is above the forbidden threshold "
                f"${rules.forbidden_above_usd:g}",
            )
        budgets = self.budgets
        checks: list[tuple[str, float, float | None]] = [
            (
                "session",
                totals.session,
                session.budget_usd if session.budget_usd is not None else budgets.session_usd,
            ),
            ("task", totals.task, budgets.task_usd),
            ("day", totals.day, budgets.day_usd),
        ]
        if session.area is not None:
            checks.append(
                ("area", totals.area, budgets.area_usd.get(session.area, budgets.area_usd.get("*")))
            )
        if session.team is not None:
            checks.append(
                ("team", totals.team, budgets.team_usd.get(session.team, budgets.team_usd.get("*")))
            )
        for scope, spent, limit in checks:
            if limit is not None and spent >= limit:
                return CostDecision(
                    CostAction.PAUSE, f"budget_reached: {scope} spent ${spent:.4f} of ${limit:g}"
                )
        if (
            rules.supervised_above_usd is not None
            and totals.session > rules.supervised_above_usd
            and not session.approved
        ):
            return CostDecision(
                CostAction.APPROVAL,
                f"cost ${totals.session:.4f} passed ${rules.supervised_above_usd:g}; "
                "approve to go on",
            )
        return CostDecision()

    # -- retries -------------------------------------------------------------------------------

    def retry_delay(self, session: Session, *, reason: str, retryable: bool) -> float | None:
        """Exponential backoff with jitter while retries are left and the failure qualifies."""
        rules = self.retries
        if not retryable and not rules.retry_agent_failures:
            return None
        retries_done = session.attempt - 1
        if retries_done >= rules.max_retries:
            return None
        delay = min(float(rules.max_delay), float(rules.base_delay) * 2.0**retries_done)
        spread = delay * rules.jitter
        jittered: float = delay + self._rng.uniform(-spread, spread)
        return max(0.0, jittered)


def _mode(key: str | SessionMode) -> SessionMode:
    try:
        return SessionMode(key)
    except ValueError:
        raise ConfigError(
            f"max_concurrent: unknown mode {key!r}; "
            f"use one of {', '.join(m.value for m in SessionMode)}"
        ) from None
