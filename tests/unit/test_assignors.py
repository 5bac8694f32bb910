"""Consumer-group assignors: Kafka's hand-worked examples, then properties over random groups.

The examples come from outside zafka: the javadocs of Kafka's RangeAssignor,
RoundRobinAssignor and StickyAssignor, and cases from Kafka's
AbstractStickyAssignorTest and CooperativeStickyAssignorTest
(clients/src/test/java/org/apache/kafka/clients/consumer/). Where Kafka's expected
answer hangs on Java ``HashMap`` order, the test says so and pins zafka's
member-id order instead.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.client.assignors import (
    ASSIGNORS,
    COOPERATIVE,
    DEFAULT_STRATEGY,
    EAGER,
    InconsistentGroupProtocol,
    Subscription,
    UnknownAssignor,
    choose_protocol,
    parse_strategy,
    rebalance_protocol,
    revocations,
)
from wire.client.errors import ClientConfigError
from wire.client.records import TopicPartition
from wire.errors import InvalidConfig, ZafkaError

range_ = ASSIGNORS["range"]
roundrobin = ASSIGNORS["roundrobin"]
sticky = ASSIGNORS["sticky"]
coop = ASSIGNORS["cooperative-sticky"]
EAGER_STRATEGIES = ("range", "roundrobin", "sticky")


def tps(spec: str) -> list[TopicPartition]:
    """``"t0-0 t1-2"`` -> ``[TopicPartition("t0", 0), TopicPartition("t1", 2)]``, as Kafka prints them."""
    return [TopicPartition(t, int(p)) for t, _, p in (item.rpartition("-") for item in spec.split())]


def sub(topics: str, owned: str = "", generation: int = 1) -> Subscription:
    return Subscription(tuple(topics.split()), tuple(tps(owned)), generation)


def shown(assignment) -> dict[str, str]:
    return {m: " ".join(f"{t}-{p}" for t, p in v) for m, v in assignment.items()}


# -- range ---------------------------------------------------------------------------------------


def test_range_gives_the_first_members_the_extra_partition_of_every_topic():
    # RangeAssignor javadoc: 2 consumers, t0 and t1 with 3 partitions each
    out = range_.assign({"t0": 3, "t1": 3}, {"C0": sub("t0 t1"), "C1": sub("t0 t1")})
    assert shown(out) == {"C0": "t0-0 t0-1 t1-0 t1-1", "C1": "t0-2 t1-2"}


def test_range_splits_each_topic_into_contiguous_ranges_over_its_own_subscribers():
    subs = {"b": sub("t"), "a": sub("t u"), "c": sub("t u ghost")}
    out = range_.assign({"t": 7, "u": 3, "unsubscribed": 4}, subs)
    assert shown(out) == {"a": "t-0 t-1 t-2 u-0 u-1", "b": "t-3 t-4", "c": "t-5 t-6 u-2"}


def test_range_gives_members_beyond_the_partition_count_nothing():
    out = range_.assign({"t": 2}, {"m1": sub("t"), "m2": sub("t"), "m3": sub("t"), "m0": sub("other")})
    assert shown(out) == {"m0": "", "m1": "t-0", "m2": "t-1", "m3": ""}


# -- roundrobin ----------------------------------------------------------------------------------


def test_roundrobin_deals_sorted_partitions_over_sorted_members():
    # RoundRobinAssignor javadoc, identical subscriptions
    out = roundrobin.assign({"t0": 3, "t1": 3}, {"C1": sub("t0 t1"), "C0": sub("t0 t1")})
    assert shown(out) == {"C0": "t0-0 t0-2 t1-1", "C1": "t0-1 t1-0 t1-2"}


def test_roundrobin_skips_members_not_subscribed_and_can_skew():
    # RoundRobinAssignor javadoc, differing subscriptions
    subs = {"C0": sub("t0"), "C1": sub("t0 t1"), "C2": sub("t0 t1 t2")}
    out = roundrobin.assign({"t0": 1, "t1": 2, "t2": 3}, subs)
    assert shown(out) == {"C0": "t0-0", "C1": "t1-0", "C2": "t1-1 t2-0 t2-1 t2-2"}


def test_roundrobin_keeps_one_dealer_across_topics():
    out = roundrobin.assign({"a": 1, "b": 1, "c": 1}, {"m0": sub("a b c"), "m1": sub("a b c")})
    assert shown(out) == {"m0": "a-0 c-0", "m1": "b-0"}


# -- sticky --------------------------------------------------------------------------------------


def test_sticky_starts_like_roundrobin_for_equal_subscriptions():
    # StickyAssignor javadoc, example 1
    subs = {c: sub("t0 t1 t2 t3") for c in ("C0", "C1", "C2")}
    out = sticky.assign({"t0": 2, "t1": 2, "t2": 2, "t3": 2}, subs)
    assert shown(out) == {"C0": "t0-0 t1-1 t3-0", "C1": "t0-1 t2-0 t3-1", "C2": "t1-0 t2-1"}


def test_sticky_keeps_every_partition_of_the_members_that_stay():
    # Example 1 after C1 leaves. The javadoc predates the uniform-subscription builder
    # (KIP-341/KAFKA-9987) and shows C0 taking t2-0; the current ConstrainedAssignmentBuilder
    # deals C1's partitions t0-1, t2-0, t3-1 round-robin to C0, C2 (C0 fills up first).
    subs = {"C0": sub("t0 t1 t2 t3", "t0-0 t1-1 t3-0"), "C2": sub("t0 t1 t2 t3", "t1-0 t2-1")}
    out = sticky.assign({"t0": 2, "t1": 2, "t2": 2, "t3": 2}, subs)
    assert shown(out) == {"C0": "t0-0 t0-1 t1-1 t3-0", "C2": "t1-0 t2-0 t2-1 t3-1"}


def test_sticky_balances_unequal_subscriptions_better_than_roundrobin():
    # StickyAssignor javadoc, example 2, then C0 leaves and sticky keeps 5 of 6 in place
    topics = {"t0": 1, "t1": 2, "t2": 3}
    out = sticky.assign(topics, {"C0": sub("t0"), "C1": sub("t0 t1"), "C2": sub("t0 t1 t2")})
    assert shown(out) == {"C0": "t0-0", "C1": "t1-0 t1-1", "C2": "t2-0 t2-1 t2-2"}
    out = sticky.assign(topics, {"C1": sub("t0 t1", "t1-0 t1-1"), "C2": sub("t0 t1 t2", "t2-0 t2-1 t2-2")})
    assert shown(out) == {"C1": "t0-0 t1-0 t1-1", "C2": "t2-0 t2-1 t2-2"}


@pytest.mark.parametrize("topics,subs,expected", [
    # testMultipleConsumersMixedTopicSubscriptions
    ({"topic1": 3, "topic2": 2},
     {"consumer1": sub("topic1"), "consumer2": sub("topic1 topic2"), "consumer3": sub("topic1")},
     {"consumer1": "topic1-0 topic1-2", "consumer2": "topic2-0 topic2-1", "consumer3": "topic1-1"}),
    # testTwoConsumersTwoTopicsSixPartitions
    ({"topic1": 3, "topic2": 3}, {"consumer1": sub("topic1 topic2"), "consumer2": sub("topic1 topic2")},
     {"consumer1": "topic1-0 topic1-2 topic2-1", "consumer2": "topic1-1 topic2-0 topic2-2"}),
    # testConsumerOwningMinQuotaExpectedMaxQuota
    ({"topic1": 2, "topic2": 3},
     {"consumer1": sub("topic1 topic2", "topic1-0 topic2-1"), "consumer2": sub("topic1 topic2", "topic1-1 topic2-2")},
     {"consumer1": "topic1-0 topic2-0 topic2-1", "consumer2": "topic1-1 topic2-2"}),
    # testAllConsumersAreUnderMinQuota
    ({"topic1": 2, "topic2": 3},
     {"consumer1": sub("topic1 topic2", "topic1-0"), "consumer2": sub("topic1 topic2", "topic1-1"),
      "consumer3": sub("topic1 topic2")},
     {"consumer1": "topic1-0 topic2-1", "consumer2": "topic1-1 topic2-2", "consumer3": "topic2-0"}),
    # testAllConsumersReachExpectedQuotaAndAreConsideredFilled
    ({"topic": 4},
     {"consumer1": sub("topic", "topic-0 topic-1"), "consumer2": sub("topic", "topic-2"), "consumer3": sub("topic")},
     {"consumer1": "topic-0 topic-1", "consumer2": "topic-2", "consumer3": "topic-3"}),
    # testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers, mirrored: Kafka's HashMap visits
    # consumer2 first so it keeps both of its partitions; zafka visits in id order, so consumer1 does.
    ({"topic1": 2, "topic2": 2},
     {"consumer1": sub("topic1 topic2", "topic1-0 topic2-0"), "consumer2": sub("topic1 topic2", "topic1-1 topic2-1"),
      "consumer3": sub("topic1 topic2")},
     {"consumer1": "topic1-0 topic2-0", "consumer2": "topic1-1", "consumer3": "topic2-1"}),
    # testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration: consumer2's claims are a generation old
    ({"topic": 3, "topic2": 3},
     {"consumer1": sub("topic topic2", "topic-0 topic-2 topic2-1", 10),
      "consumer2": sub("topic topic2", "topic-0 topic-2 topic2-1", 9)},
     {"consumer1": "topic-0 topic-2 topic2-1", "consumer2": "topic-1 topic2-0 topic2-2"}),
    # testEnsurePartitionsAssignedToHighestGeneration
    ({"topic": 3, "topic2": 3, "topic3": 3},
     {"consumer1": sub("topic topic2 topic3", "topic-0 topic2-0 topic3-0", 10),
      "consumer2": sub("topic topic2 topic3", "topic-1 topic2-1 topic3-1", 9),
      "consumer3": sub("topic topic2 topic3", "topic2-1 topic3-0 topic3-2", 8)},
     {"consumer1": "topic-0 topic2-0 topic3-0", "consumer2": "topic-1 topic2-1 topic3-1",
      "consumer3": "topic-2 topic2-2 topic3-2"}),
    # testNoReassignmentOnCurrentMembers
    ({"topic": 3, "topic1": 3, "topic2": 3, "topic3": 3},
     {"consumer1": sub("topic topic1 topic2 topic3", "", -1),
      "consumer2": sub("topic topic1 topic2 topic3", "topic-0 topic2-0 topic1-0", 9),
      "consumer3": sub("topic topic1 topic2 topic3", "topic3-2 topic2-2 topic1-1", 8),
      "consumer4": sub("topic topic1 topic2 topic3", "topic3-1 topic-1 topic-2", 7)},
     {"consumer1": "topic1-2 topic2-1 topic3-0", "consumer2": "topic-0 topic1-0 topic2-0",
      "consumer3": "topic1-1 topic2-2 topic3-2", "consumer4": "topic-1 topic-2 topic3-1"}),
], ids=["mixed-subscriptions", "two-topics-six-partitions", "owning-min-quota", "all-under-min-quota",
        "all-reach-quota", "more-max-quota-owners-than-slots", "stale-generation-loses", "highest-generation-wins",
        "no-reassignment-of-current-members"])
def test_sticky_matches_kafkas_abstract_sticky_assignor_test(topics, subs, expected):
    assert shown(sticky.assign(topics, subs)) == expected


def test_sticky_drops_claims_on_unsubscribed_deleted_and_missing_partitions():
    subs = {"a": sub("t", "t-0 gone-0 u-0 t-9"), "b": sub("t u", "u-0 u-1")}
    out = sticky.assign({"t": 2, "u": 2}, subs)  # a unsubscribed u, topic gone was deleted, t has no p9
    assert shown(out) == {"a": "t-0 t-1", "b": "u-0 u-1"}


def test_sticky_invalidates_a_partition_claimed_twice_in_one_generation():
    # testPartitionsTransferringOwnershipIncludeThePartitionClaimedByMultipleConsumersInSameGeneration
    subs = {"consumer1": sub("topic", "topic-0 topic-1"), "consumer2": sub("topic", "topic-0 topic-2"),
            "consumer3": sub("topic")}
    out = sticky.assign({"topic": 3}, subs)
    assert shown(out) == {"consumer1": "topic-1", "consumer2": "topic-2", "consumer3": "topic-0"}


# -- cooperative-sticky --------------------------------------------------------------------------


@pytest.mark.parametrize("partitions,expected", [
    (3, {"consumer1": "topic-1", "consumer2": "topic-2", "consumer3": ""}),
    (4, {"consumer1": "topic-1 topic-3", "consumer2": "topic-2", "consumer3": ""}),
])
def test_cooperative_withholds_a_partition_claimed_twice_until_both_revoke_it(partitions, expected):
    # CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedBy
    # MultipleConsumersInSameGenerationWith{Equal,Unequal}PartitionsPerConsumer
    subs = {"consumer1": sub("topic", "topic-0 topic-1"), "consumer2": sub("topic", "topic-0 topic-2"),
            "consumer3": sub("topic")}
    assert shown(coop.assign({"topic": partitions}, subs)) == expected


def test_cooperative_moves_a_partition_over_two_rebalances():
    # testAddRemoveConsumerOneTopic: consumer2 joins a group where consumer1 owns all 3
    topics = {"topic": 3}
    first = coop.assign(topics, {"consumer1": sub("topic", "topic-0 topic-1 topic-2"), "consumer2": sub("topic")})
    assert shown(first) == {"consumer1": "topic-0 topic-1", "consumer2": ""}
    assert shown(revocations({"consumer1": tps("topic-0 topic-1 topic-2")}, first)) == \
        {"consumer1": "topic-2", "consumer2": ""}
    second = coop.assign(topics, {m: Subscription(("topic",), tuple(v), 2) for m, v in first.items()})
    assert shown(second) == {"consumer1": "topic-0 topic-1", "consumer2": "topic-2"}
    assert not any(revocations(first, second).values())


def test_cooperative_withholds_moves_between_unequal_subscriptions_too():
    # general case: Kafka's computePartitionsTransferringOwnership, from the owned partitions sent
    topics = {"a": 4, "b": 2}
    subs = {"m1": sub("a b", "a-0 a-1 a-2 a-3 b-0 b-1"), "m2": sub("a")}
    eager = sticky.assign(topics, subs)
    first = coop.assign(topics, subs)
    # b has one possible consumer and stays put; a is rebalanced from its lowest partitions up
    assert shown(eager) == {"m1": "a-3 b-0 b-1", "m2": "a-0 a-1 a-2"}
    assert shown(first) == {"m1": "a-3 b-0 b-1", "m2": ""}


# -- configuration and protocol selection --------------------------------------------------------


def test_parse_strategy_takes_names_kafka_class_names_and_comma_lists_in_order():
    assert [a.name for a in parse_strategy("range")] == ["range"]
    assert [a.name for a in parse_strategy("cooperative-sticky, range")] == ["cooperative-sticky", "range"]
    java = ["org.apache.kafka.clients.consumer.RoundRobinAssignor", "org.apache.kafka.clients.consumer.StickyAssignor"]
    assert [a.name for a in parse_strategy(java)] == ["roundrobin", "sticky"]
    assert [a.name for a in parse_strategy(list(DEFAULT_STRATEGY))] == ["range", "cooperative-sticky"]
    assert parse_strategy(["org.apache.kafka.clients.consumer.CooperativeStickyAssignor"])[0] is coop


@pytest.mark.parametrize("value", ["uniform", ["range", "Range"], "org.apache.kafka.clients.consumer.FooAssignor"])
def test_parse_strategy_refuses_unknown_names_and_lists_the_valid_ones(value):
    with pytest.raises(UnknownAssignor) as err:
        parse_strategy(value)
    assert isinstance(err.value, ClientConfigError) and isinstance(err.value, InvalidConfig)
    for name in ASSIGNORS:
        assert name in str(err.value)


@pytest.mark.parametrize("value", [
    "", [], "range,range", ["sticky", "org.apache.kafka.clients.consumer.StickyAssignor"],
])
def test_parse_strategy_refuses_empty_and_repeated_lists(value):
    with pytest.raises(ClientConfigError, match="partition.assignment.strategy"):
        parse_strategy(value)


def test_assignors_carry_kafkas_names_and_rebalance_protocols():
    assert list(ASSIGNORS) == ["range", "roundrobin", "sticky", "cooperative-sticky"]
    assert [a.protocol for a in ASSIGNORS.values()] == [EAGER, EAGER, EAGER, COOPERATIVE]
    # ConsumerCoordinator: the most advanced protocol every configured assignor supports
    assert rebalance_protocol(parse_strategy("cooperative-sticky")) == COOPERATIVE
    assert rebalance_protocol(parse_strategy(list(DEFAULT_STRATEGY))) == EAGER


def test_choose_protocol_takes_the_most_voted_strategy_all_members_support():
    # each member votes for its first choice among those every member supports
    prefs = [["range", "roundrobin"], ["roundrobin", "range"], ["sticky", "roundrobin", "range"]]
    assert choose_protocol(prefs) == "roundrobin"
    assert choose_protocol([["cooperative-sticky", "range"], ["range"]]) == "range"  # a rolling upgrade
    assert choose_protocol([["a", "b"], ["b", "a"]]) == "a"  # a tie: the first member's preference


def test_choose_protocol_refuses_a_group_without_a_common_strategy():
    with pytest.raises(InconsistentGroupProtocol, match="range") as err:
        choose_protocol([["range"], ["roundrobin"]])
    assert isinstance(err.value, ZafkaError) and err.value.code == 23
    with pytest.raises(InconsistentGroupProtocol):
        choose_protocol([])


def test_revocations_lists_what_each_member_loses_and_everything_of_a_member_that_left():
    old = {"a": tps("t-0 t-1"), "b": tps("t-2"), "gone": tps("t-3")}
    new = {"a": tps("t-0"), "b": tps("t-1 t-2 t-3"), "new": []}
    assert shown(revocations(old, new)) == {"a": "t-1", "b": "", "gone": "t-3", "new": ""}


# -- properties ----------------------------------------------------------------------------------

TOPIC_NAMES = ("a", "b", "c", "d")
member_ids = st.lists(st.text("xyz019", min_size=1, max_size=3), min_size=1, max_size=6, unique=True)
topic_counts = st.dictionaries(st.sampled_from(TOPIC_NAMES), st.integers(0, 7), min_size=1)
topic_sets = st.sets(st.sampled_from(TOPIC_NAMES + ("ghost",)), max_size=4).map(lambda s: tuple(sorted(s)))


@st.composite
def groups(draw, uniform: bool | None = None):
    """(partitions_per_topic, {member: topics}); ``ghost`` is subscribed but never exists."""
    topics = draw(topic_counts)
    members = draw(member_ids)
    same = draw(st.booleans()) if uniform is None else uniform
    if same:
        chosen = draw(topic_sets)
        return topics, {m: chosen for m in members}
    return topics, {m: draw(topic_sets) for m in members}


def everything(topics, subscribed) -> set[TopicPartition]:
    wanted = {t for ts in subscribed.values() for t in ts}
    return {TopicPartition(t, p) for t, n in topics.items() if t in wanted for p in range(n)}


@st.composite
def previous(draw, topics, members, extra_owners=("left",)):
    """A consistent earlier assignment: each partition (of any topic) with at most one owner, some departed."""
    owners = list(members) + list(extra_owners)
    old: dict[str, list[TopicPartition]] = {m: [] for m in owners}
    for t, n in sorted(topics.items()):
        for p in range(n):
            who = draw(st.sampled_from(owners + [None]))
            if who is not None:
                old[who].append(TopicPartition(t, p))
    return old


def check_valid(topics, subscribed, out, complete=True):
    assert list(out) == sorted(subscribed)
    counts = Counter(tp for v in out.values() for tp in v)
    assert all(c == 1 for c in counts.values()), "a partition went to two members"
    for member, assigned in out.items():
        assert assigned == sorted(assigned)
        for tp in assigned:
            assert tp.topic in subscribed[member] and 0 <= tp.partition < topics.get(tp.topic, 0)
    if complete:
        assert set(counts) == everything(topics, subscribed)
    else:
        assert set(counts) <= everything(topics, subscribed)


def spread(out) -> int:
    sizes = [len(v) for v in out.values()]
    return max(sizes) - min(sizes)


def no_partition_could_move_to_a_member_two_short(topics, subscribed, out):
    """Kafka's StickyAssignor guarantee (and AbstractStickyAssignorTest.verifyValidityAndBalance)."""
    owner = {tp: m for m, v in out.items() for tp in v}
    for member, mine in out.items():
        for tp in everything(topics, {member: subscribed[member]}):
            if tp not in mine:
                assert len(mine) + 1 >= len(out[owner[tp]]), f"{tp} could move from {owner[tp]} to {member}"


def never_shared(before, after):
    """Nothing a member is given is still held by another member that has not revoked yet."""
    for m, got in after.items():
        for n, held in before.items():
            if m != n:
                assert not set(got) & set(held), f"{m} given {set(got) & set(held)} still owned by {n}"


def kept(old, new) -> int:
    return sum(len(set(old.get(m, ())) & set(v)) for m, v in new.items())


def with_owned(subscribed, owned, generation=1):
    return {m: Subscription(ts, tuple(owned.get(m, ())), generation) for m, ts in subscribed.items()}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups())
def test_every_strategy_assigns_each_subscribed_partition_once_to_a_subscriber(data, group):
    """Eager strategies: exactly once, whatever members claim (stale, doubled or bogus claims
    included); cooperative: at most once, and exactly once when nobody owns anything yet."""
    topics, subscribed = group
    claims = {m: data.draw(st.lists(st.tuples(st.sampled_from(TOPIC_NAMES + ("ghost",)), st.integers(0, 8))))
              for m in subscribed}
    subs = {m: Subscription(ts, tuple(claims[m]), data.draw(st.integers(-1, 3))) for m, ts in subscribed.items()}
    for name in EAGER_STRATEGIES:
        check_valid(topics, subscribed, ASSIGNORS[name].assign(topics, subs))
    check_valid(topics, subscribed, coop.assign(topics, subs), complete=False)
    check_valid(topics, subscribed, coop.assign(topics, with_owned(subscribed, {})))


@settings(max_examples=100, deadline=None)
@given(group=groups(), seed=st.randoms(use_true_random=False))
def test_every_strategy_is_deterministic_whatever_the_member_order(group, seed):
    topics, subscribed = group
    subs = with_owned(subscribed, {})
    items = list(subs.items())
    seed.shuffle(items)
    for assignor in ASSIGNORS.values():
        assert assignor.assign(topics, dict(items)) == assignor.assign(topics, subs)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=True))
def test_equal_subscriptions_balance_within_one_and_range_per_topic(data, group):
    """roundrobin and both stickies: total counts within one (sticky whatever is owned); range
    only per topic, its first members by id taking each topic's extra partition."""
    topics, subscribed = group
    owned = data.draw(previous(topics, subscribed))
    assert spread(roundrobin.assign(topics, with_owned(subscribed, {}))) <= 1
    assert spread(sticky.assign(topics, with_owned(subscribed, owned))) <= 1
    assert spread(coop.assign(topics, with_owned(subscribed, {}))) <= 1
    out = range_.assign(topics, with_owned(subscribed, owned))
    for topic in {tp.topic for tp in everything(topics, subscribed)}:
        per_member = [sum(tp.topic == topic for tp in out[m]) for m in sorted(out)]
        assert per_member == sorted(per_member, reverse=True) and per_member[0] - per_member[-1] <= 1


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=False))
def test_sticky_leaves_no_partition_movable_to_a_member_two_short(data, group):
    topics, subscribed = group
    owned = data.draw(previous(topics, subscribed))
    for subs in (with_owned(subscribed, {}), with_owned(subscribed, owned)):
        no_partition_could_move_to_a_member_two_short(topics, subscribed, sticky.assign(topics, subs))


def assert_minimal_movement(topics, subscribed, owned, out):
    """The exact stickiness property for equal subscriptions.

    With ``P`` partitions over ``M`` members the quotas are ``q = P // M`` and, for
    ``E = P % M`` members, ``q + 1``. Let ``o(m)`` be how many of its claimed
    partitions member ``m`` may still hold (subscribed and existing). No balanced
    assignment keeps more than ``sum(min(o(m), q)) + min(E, #{m: o(m) > q})`` partitions
    with their owners, and sticky keeps exactly that many; moreover each member only
    gains (keeps all it had) or only loses (gets nothing new): nothing is swapped.
    """
    valid = everything(topics, subscribed)
    o = {m: set(owned.get(m, ())) & valid for m in subscribed}
    q, extra = divmod(len(valid), len(subscribed))
    bound = sum(min(len(v), q) for v in o.values()) + min(extra, sum(len(v) > q for v in o.values()))
    assert kept(o, out) == bound
    for m, v in out.items():
        assert o[m] <= set(v) or set(v) <= o[m], f"{m} both lost and gained partitions"


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=True))
def test_sticky_moves_the_fewest_partitions_from_any_consistent_ownership(data, group):
    topics, subscribed = group
    owned = data.draw(previous(topics, subscribed))
    assert_minimal_movement(topics, subscribed, owned, sticky.assign(topics, with_owned(subscribed, owned)))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=True), newcomer=st.text("xyz019", min_size=4, max_size=4))
def test_sticky_after_a_member_leaves_or_joins_moves_only_what_it_must(data, group, newcomer):
    """A member leaving moves exactly its partitions; a member joining takes only from
    members above their new quota (assert_minimal_movement states the bound)."""
    topics, subscribed = group
    before = sticky.assign(topics, with_owned(subscribed, {}))
    leaver = data.draw(st.sampled_from(sorted(subscribed)))
    stayed = {m: ts for m, ts in subscribed.items() if m != leaver}
    if stayed:
        after = sticky.assign(topics, with_owned(stayed, before, 2))
        assert_minimal_movement(topics, stayed, before, after)
        assert all(set(before[m]) <= set(after[m]) for m in stayed)
    joined = {**subscribed, newcomer: next(iter(subscribed.values()))}
    after = sticky.assign(topics, with_owned(joined, before, 2))
    assert_minimal_movement(topics, joined, before, after)
    assert all(set(after[m]) <= set(before[m]) for m in subscribed)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=True))
def test_cooperative_reaches_the_sticky_result_in_two_rounds_without_sharing(data, group):
    """Round 1 gives out nothing another member still owns and only withholds from the sticky
    result; round 2 (each member now owning its round-1 share) revokes nothing, is plain sticky
    from there, is balanced and complete, and keeps as many partitions in place as one eager
    sticky step would."""
    topics, subscribed = group
    owned = data.draw(previous(topics, subscribed))
    eager = sticky.assign(topics, with_owned(subscribed, owned))
    first = coop.assign(topics, with_owned(subscribed, owned))
    never_shared({m: owned[m] for m in subscribed}, first)
    assert all(set(first[m]) <= set(eager[m]) for m in subscribed)
    round_two = with_owned(subscribed, first, 2)
    second = coop.assign(topics, round_two)
    never_shared(first, second)
    assert not any(revocations(first, second).values())
    assert second == sticky.assign(topics, round_two)
    check_valid(topics, subscribed, second)
    assert spread(second) <= 1
    assert kept(owned, second) == kept(owned, eager)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), group=groups(uniform=False))
def test_cooperative_converges_for_any_subscriptions_without_sharing(data, group):
    """As CooperativeStickyAssignorTest.verifyValidityAndBalance: rebalance while anyone revokes,
    at most four rounds, never handing out a partition another member still holds."""
    topics, subscribed = group
    owned = {m: v for m, v in data.draw(previous(topics, subscribed)).items() if m in subscribed}
    generation = 1
    for _ in range(4):
        out = coop.assign(topics, with_owned(subscribed, owned, generation))
        check_valid(topics, subscribed, out, complete=False)
        never_shared(owned, out)
        if not any(revocations(owned, out).values()):
            break
        owned, generation = out, generation + 1
    else:
        pytest.fail("still revoking after four rebalances")
    check_valid(topics, subscribed, out)
    no_partition_could_move_to_a_member_two_short(topics, subscribed, out)


def test_strategies_stay_fast_for_a_large_group():
    rng = random.Random(7)
    topics = {f"t{i}": rng.randint(1, 40) for i in range(20)}
    subscribed = {f"m{i:02}": tuple(rng.sample(sorted(topics), 8)) for i in range(30)}
    first = sticky.assign(topics, with_owned(subscribed, {}))
    del subscribed["m07"]
    again = coop.assign(topics, with_owned(subscribed, first, 2))
    check_valid(topics, subscribed, again, complete=False)
