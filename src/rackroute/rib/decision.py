"""The decision process (RFC 4271 §9.1.2.2, RFC 4456 §9) as one ordered table of small steps.

Each ``Step`` ranks a path (lower is better). Selection walks ``STEPS`` eliminating every candidate
whose rank is worse than the best rank at that step, exactly as RFC 4271 §9.1.2.2 describes; MED is
compared only among paths from the same neighbouring AS unless ``always_compare_med``. Eliminating
over the whole set (instead of comparing paths pairwise as they arrive) makes the result independent
of arrival order, which pairwise MED comparison is not.

The step that reduced the candidates to the winner is reported as the *reason* (``Route.reason``).
Multipath (ECMP) candidates are the survivors just before the ``router-id`` step, narrowed to those
that may share forwarding with the best path (``multipath_eligible``).

GR stale paths (RFC 4724) are used exactly like fresh ones: depreferring them would move traffic away
and back across the peer's restart, the churn graceful restart exists to avoid. Long-lived stale
paths (RFC 9494, LLGR_STALE community) are least preferred: the first step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..bgp.communities import WellKnownCommunity
from ..bgp.wire import Origin
from .path import Path

ONLY_PATH = "only-path"  # reason when there was nothing to compare against
NO_USABLE_PATH = "no-usable-path"  # reason when no candidate may be used (e.g. unresolvable next hops)
WORST_MED = 1 << 32  # strictly worse than any MED on the wire (32 bits)
LLGR_STALE = int(WellKnownCommunity.LLGR_STALE)


@dataclass(frozen=True, slots=True)
class DecisionOptions:
    default_local_pref: int = 100  # for paths without LOCAL_PREF (eBGP-learned, local)
    always_compare_med: bool = False  # compare MED across neighbouring ASes too
    missing_med_worst: bool = False  # RFC 4271 §9.1.2.2 c: missing MED is 0 unless this is set
    maximum_paths: int = 1  # eBGP multipath; 1 = no ECMP
    maximum_paths_ibgp: int = 1  # iBGP multipath
    as_path_multipath_relax: bool = False  # ECMP across neighbouring ASes with equal AS_PATH length

    def __post_init__(self) -> None:
        if self.maximum_paths < 1 or self.maximum_paths_ibgp < 1:
            raise ValueError("maximum paths must be at least 1")


Rank = int | tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    rank: Callable[[Path, DecisionOptions], Rank]  # lower is better
    source: str  # where the rule comes from
    among_same_neighbor_as: bool = False  # compare only within a neighbouring AS (MED)


def _llgr_stale(path: Path, options: DecisionOptions) -> Rank:
    return 1 if LLGR_STALE in path.attributes.communities else 0


def _weight(path: Path, options: DecisionOptions) -> Rank:
    return -path.peer.weight


def _local_pref(path: Path, options: DecisionOptions) -> Rank:
    local_pref = path.attributes.local_pref
    return -(options.default_local_pref if local_pref is None else local_pref)


def _locally_originated(path: Path, options: DecisionOptions) -> Rank:
    return 0 if path.peer.local else 1


def _as_path_length(path: Path, options: DecisionOptions) -> Rank:
    return path.attributes.as_path_length


def _origin(path: Path, options: DecisionOptions) -> Rank:
    origin = path.attributes.origin
    return Origin.INCOMPLETE if origin is None else origin


def _med(path: Path, options: DecisionOptions) -> Rank:
    med = path.attributes.med
    if med is None:
        return WORST_MED if options.missing_med_worst else 0
    return med


def _ebgp_over_ibgp(path: Path, options: DecisionOptions) -> Rank:
    # Confederation-eBGP counts as internal here (RFC 5065 §5.3).
    return 1 if path.peer.internal else 0


def _igp_cost(path: Path, options: DecisionOptions) -> Rank:
    return 0  # rackroute has no IGP: every next hop is directly connected, the step always ties


def _router_id(path: Path, options: DecisionOptions) -> Rank:
    # RFC 4456 §9: a reflected route's ORIGINATOR_ID stands in for the advertising router's id.
    originator_id = path.attributes.originator_id
    return path.peer.router_id if originator_id is None else originator_id


def _cluster_list_length(path: Path, options: DecisionOptions) -> Rank:
    return len(path.attributes.cluster_list)


def _peer_address(path: Path, options: DecisionOptions) -> Rank:
    address = path.peer.address
    return (len(address), address)  # numerically lowest; IPv4 neighbours before IPv6


def _path_id(path: Path, options: DecisionOptions) -> Rank:
    return path.path_id  # two ADD-PATH paths of one neighbour may tie on everything else


STEPS: tuple[Step, ...] = (
    Step("llgr-stale", _llgr_stale, "RFC 9494: long-lived stale paths are least preferred"),
    Step("weight", _weight, "local configuration, before the degree of preference"),
    Step("local-pref", _local_pref, "RFC 4271 §9.1.1 degree of preference (LOCAL_PREF)"),
    Step("locally-originated", _locally_originated, "local policy: our own routes first"),
    Step("as-path-length", _as_path_length, "RFC 4271 §9.1.2.2 a"),
    Step("origin", _origin, "RFC 4271 §9.1.2.2 b"),
    Step("med", _med, "RFC 4271 §9.1.2.2 c", among_same_neighbor_as=True),
    Step("ebgp-over-ibgp", _ebgp_over_ibgp, "RFC 4271 §9.1.2.2 d"),
    Step("igp-cost", _igp_cost, "RFC 4271 §9.1.2.2 e"),
    Step("router-id", _router_id, "RFC 4271 §9.1.2.2 f, RFC 4456 §9"),
    Step("cluster-list-length", _cluster_list_length, "RFC 4456 §9"),
    Step("peer-address", _peer_address, "RFC 4271 §9.1.2.2 g"),
    Step("path-id", _path_id, "RFC 7911: make the order total"),
)
STEP_NAMES: tuple[str, ...] = tuple(step.name for step in STEPS)
MULTIPATH_BOUNDARY = STEP_NAMES.index("router-id")  # multipath: equal on every step before this one


@dataclass(frozen=True, slots=True)
class Decision:
    best: Path | None
    multipath: tuple[Path, ...]
    reason: str


class _Ranks:
    """Every step's rank of one path under one options object, memoised on the ``Path``."""

    __slots__ = ("neighbor_as", "options", "ranks")

    def __init__(self, path: Path, options: DecisionOptions) -> None:
        self.options = options
        self.ranks = tuple(step.rank(path, options) for step in STEPS)
        self.neighbor_as = path.attributes.neighbor_as()


def _ranks(path: Path, options: DecisionOptions) -> _Ranks:
    memo = path.decision_ranks
    if isinstance(memo, _Ranks) and memo.options is options:
        return memo
    memo = _Ranks(path, options)
    object.__setattr__(path, "decision_ranks", memo)  # a memo on a frozen value, see Path
    return memo


def decide(candidates: Sequence[Path], options: DecisionOptions) -> Decision:
    """The best path, the multipath set (best first) and why, over already usable candidates."""
    if not candidates:
        return Decision(None, (), NO_USABLE_PATH)
    if len(candidates) == 1:
        return Decision(candidates[0], (candidates[0],), ONLY_PATH)
    ranked = [(_ranks(path, options), path) for path in candidates]
    if options.always_compare_med or len({memo.neighbor_as for memo, _ in ranked}) == 1:
        # No step is scoped to a neighbouring AS: elimination step by step is a lexicographic
        # minimum, and the winner's closest competitor is the lexicographic runner-up.
        ranked.sort(key=lambda item: item[0].ranks)
        best_ranks = ranked[0][0].ranks
        step = _first_difference(best_ranks, ranked[1][0].ranks, 0)
        if step < MULTIPATH_BOUNDARY:
            return Decision(ranked[0][1], (ranked[0][1],), STEP_NAMES[step])
        head = best_ranks[:MULTIPATH_BOUNDARY]
        pool = [path for memo, path in ranked if memo.ranks[:MULTIPATH_BOUNDARY] == head]
        return Decision(pool[0], _multipath(pool, options), STEP_NAMES[step])
    for index in range(MULTIPATH_BOUNDARY):
        ranked = _keep_best(index, ranked)
        if len(ranked) == 1:
            return Decision(ranked[0][1], (ranked[0][1],), STEP_NAMES[index])
    # Past the boundary no step is scoped, so the remaining order is lexicographic on the ranks.
    ranked.sort(key=lambda item: item[0].ranks[MULTIPATH_BOUNDARY:])
    step = _first_difference(ranked[0][0].ranks, ranked[1][0].ranks, MULTIPATH_BOUNDARY)
    pool = [path for _, path in ranked]
    return Decision(pool[0], _multipath(pool, options), STEP_NAMES[step])


def _keep_best(index: int, ranked: list[tuple[_Ranks, Path]]) -> list[tuple[_Ranks, Path]]:
    """The candidates best at step ``index`` (within their neighbouring AS for a scoped step)."""
    if not STEPS[index].among_same_neighbor_as:
        best_rank = min(memo.ranks[index] for memo, _ in ranked)
        return [item for item in ranked if item[0].ranks[index] == best_rank]
    best_in_group: dict[int | None, Rank] = {}
    for memo, _ in ranked:
        rank = memo.ranks[index]
        group = memo.neighbor_as
        if group not in best_in_group or rank < best_in_group[group]:  # type: ignore[operator]
            best_in_group[group] = rank
    return [item for item in ranked if item[0].ranks[index] == best_in_group[item[0].neighbor_as]]


def _first_difference(first: tuple[object, ...], second: tuple[object, ...], start: int) -> int:
    for index in range(start, len(STEPS)):
        if first[index] != second[index]:
            return index
    raise ValueError("two candidates from the same neighbour with the same path id")


def _multipath(pool: list[Path], options: DecisionOptions) -> tuple[Path, ...]:
    """``pool``: the paths equal to the best up to the router-id step, best first, in tie-break
    order."""
    best = pool[0]
    maximum = options.maximum_paths_ibgp if best.peer.internal else options.maximum_paths
    if maximum == 1 or best.peer.local:
        return (best,)
    chosen = [best]
    for path in pool[1:]:
        if len(chosen) == maximum:
            break
        if multipath_eligible(best, path, options):
            chosen.append(path)
    return tuple(chosen)


def multipath_eligible(best: Path, other: Path, options: DecisionOptions) -> bool:
    """May ``other`` share forwarding with ``best``? (both already equal up to the router-id step)

    Without ``as_path_multipath_relax`` the paths must come from the same neighbouring AS; with it,
    equal AS_PATH length (already guaranteed) suffices, which is what lets the core install one
    LoadBalancer /32 announced from several racks (different private ASes) as ECMP.
    """
    if other.peer.local or other.peer.internal != best.peer.internal:
        return False
    if options.as_path_multipath_relax:
        return True
    return other.attributes.neighbor_as() == best.attributes.neighbor_as()


@dataclass(frozen=True, slots=True)
class Comparison:
    winner: Path | None  # None: equal on every step (same neighbour, same path id)
    step: str


def compare(first: Path, second: Path, options: DecisionOptions) -> Comparison:
    """Pairwise: which of two paths wins and at which step (for the API's "why not this one")."""
    for step in STEPS:
        scoped = step.among_same_neighbor_as and not options.always_compare_med
        if scoped and first.attributes.neighbor_as() != second.attributes.neighbor_as():
            continue
        first_rank, second_rank = step.rank(first, options), step.rank(second, options)
        if first_rank != second_rank:
            return Comparison(first if first_rank < second_rank else second, step.name)  # type: ignore[operator]
    return Comparison(None, "")
