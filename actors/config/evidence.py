"""Which test proves each config key that the key table says is in effect.

The key table (``actors.config.keys``) claims, key by key, that zafka acts on a setting.
This list backs every such claim with the test that changes the setting and checks
the behaviour; ``tests/unit/test_config_evidence.py`` fails when a key is marked in
effect without an entry here, when an entry names a test that does not exist, or
when a key not in effect still has one. So the table can never again claim more
than the code does: turning a key on means writing its test and adding it here.

Entries are pytest node ids (``path::function``), most specific first.
"""

from __future__ import annotations

_HONEST = "tests/integration/test_honest_configs.py::"
_TOPICS = "tests/integration/test_topics_configs_retention.py::"
_SERVER = "tests/unit/test_server_config.py::"
_LOGCFG = "tests/unit/test_log_config.py::"
_LOG = "tests/unit/test_log.py::"
_RETENTION = "tests/unit/test_retention.py::"
_SUPERVISION = "tests/integration/test_supervision.py::"
_FLUSH = "tests/unit/test_flush_timer.py::"
_REPLICATION = "tests/integration/test_replication.py::"
_SHUTDOWN = "tests/integration/test_controlled_shutdown.py::"
_COMPACTED = "tests/unit/test_compacted_topics.py::"
_COMPACTED_CLUSTER = ("tests/integration/test_compaction_topics.py::"
                      "test_compacted_topic_replicas_compact_independently_refuse_keyless_records_and_survive_a_follower_kill")

BROKER_KEY_TESTS: dict[str, tuple[str, ...]] = {
    "listeners": (_HONEST + "test_listeners_choose_the_bound_endpoint_and_advertised_listeners_what_clients_are_told",),
    "advertised.listeners": (
        _HONEST + "test_listeners_choose_the_bound_endpoint_and_advertised_listeners_what_clients_are_told",
    ),
    "broker.heartbeat.interval.ms": (
        _HONEST + "test_a_frozen_broker_is_fenced_after_the_session_timeout_and_back_when_its_heartbeats_resume",
    ),
    "broker.session.timeout.ms": (
        _HONEST + "test_a_frozen_broker_is_fenced_after_the_session_timeout_and_back_when_its_heartbeats_resume",
    ),
    "num.partitions": (
        _HONEST + "test_auto_created_topics_take_num_partitions_and_default_replication_factor",
        _TOPICS + "test_auto_create_topics_on_metadata_when_enabled",
    ),
    "default.replication.factor": (
        _HONEST + "test_auto_created_topics_take_num_partitions_and_default_replication_factor",
    ),
    "auto.create.topics.enable": (
        "tests/integration/test_clients.py::test_producing_to_an_unknown_topic_with_auto_create_off_fails_naming_the_topic",
        _TOPICS + "test_auto_create_topics_on_metadata_when_enabled",
    ),
    "delete.topic.enable": (
        _HONEST + "test_delete_topic_enable_false_refuses_deletion_with_a_typed_error_and_keeps_the_data",
    ),
    "min.insync.replicas": (
        _REPLICATION + "test_acks_all_is_refused_with_nothing_appended_while_the_isr_is_below_min_insync_replicas",
        _HONEST + "test_min_insync_replicas_above_the_in_sync_count_refuses_acks_all_and_appends_nothing",
    ),
    "unclean.leader.election.enable": (
        _REPLICATION + "test_with_the_whole_isr_gone_the_partition_stays_offline_unless_unclean_election_is_enabled",
    ),
    "replica.lag.time.max.ms": (
        _REPLICATION + "test_a_follower_that_stops_fetching_leaves_the_isr_after_the_lag_time_and_rejoins_when_caught_up",
    ),
    "replica.fetch.max.bytes": (_REPLICATION + "test_small_replica_fetches_still_replicate_everything",),
    "replica.fetch.wait.max.ms": (_REPLICATION + "test_small_replica_fetches_still_replicate_everything",),
    "replica.fetch.min.bytes": (_REPLICATION + "test_small_replica_fetches_still_replicate_everything",),
    "auto.leader.rebalance.enable": (
        _REPLICATION + "test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica",
        _REPLICATION + "test_leaders_elect_preferred_moves_leadership_back_once_the_preferred_replica_is_in_sync",
    ),
    "leader.imbalance.check.interval.seconds": (
        _REPLICATION + "test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica",
    ),
    "leader.imbalance.per.broker.percentage": (
        _REPLICATION + "test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica",
        "tests/unit/test_replication_rules.py::test_a_broker_is_imbalanced_when_it_leads_too_few_of_the_partitions_it_prefers",
    ),
    "metadata.log.max.record.bytes.between.snapshots": (
        "tests/unit/test_metadata_snapshot.py::test_a_restart_loads_the_newest_snapshot_and_replays_only_the_tail",
    ),
    "metadata.log.max.snapshot.interval.ms": (
        "tests/unit/test_metadata_snapshot.py::test_an_idle_controller_snapshots_on_the_interval",
    ),
    "group.initial.rebalance.delay.ms": (
        "tests/integration/test_consumer_groups.py::"
        "test_the_brokers_group_settings_bound_sessions_and_delay_a_starting_groups_first_rebalance",
        "tests/unit/test_group_state.py::test_the_initial_rebalance_delay_gathers_a_starting_group_into_one_generation",
    ),
    "group.min.session.timeout.ms": (
        "tests/integration/test_consumer_groups.py::"
        "test_the_brokers_group_settings_bound_sessions_and_delay_a_starting_groups_first_rebalance",
    ),
    "group.max.session.timeout.ms": (
        "tests/integration/test_consumer_groups.py::"
        "test_the_brokers_group_settings_bound_sessions_and_delay_a_starting_groups_first_rebalance",
    ),
    # its minimum (1 minute) keeps a cluster test of it out of the suite: the rule is tested directly
    "producer.id.expiration.ms": (
        "tests/unit/test_producer_state.py::"
        "test_producer_id_expiration_ms_in_the_broker_config_is_what_a_replica_expires_by",
    ),
    "offsets.retention.minutes": (
        "tests/unit/test_group_state.py::test_an_empty_groups_offsets_expire_after_the_retention",
    ),
    "offsets.topic.num.partitions": (
        "tests/integration/test_group_coordinator.py::"
        "test_a_group_joins_syncs_commits_and_keeps_its_offsets_across_a_failover_of_its_partition",
    ),
    "offsets.topic.replication.factor": (
        "tests/integration/test_group_coordinator.py::"
        "test_a_group_joins_syncs_commits_and_keeps_its_offsets_across_a_failover_of_its_partition",
    ),
    "controlled.shutdown.enable": (
        _SHUTDOWN + "test_a_broker_stop_moves_its_leaderships_before_its_actors_exit_and_loses_nothing",
        _SHUTDOWN + "test_with_controlled_shutdown_disabled_a_broker_stop_moves_nothing_first",
    ),
    "controlled.shutdown.max.retries": (
        _SHUTDOWN + "test_a_shutdown_leaving_a_partition_behind_is_retried_and_moves_it_once_a_follower_is_back_in_sync",
    ),
    "controlled.shutdown.retry.backoff.ms": (
        _SHUTDOWN + "test_a_shutdown_leaving_a_partition_behind_is_retried_and_moves_it_once_a_follower_is_back_in_sync",
    ),
    "leader.heartbeat.interval.ms": (
        _REPLICATION + "test_a_frozen_leader_is_replaced_and_after_it_resumes_acknowledges_nothing",
    ),
    "leader.session.timeout.ms": (
        _REPLICATION + "test_a_frozen_leader_is_replaced_and_after_it_resumes_acknowledges_nothing",
    ),
    "message.max.bytes": (_LOGCFG + "test_topic_key_beats_broker_key_and_broker_key_beats_default",),
    "log.dir": (_SERVER + "test_log_dir_alone_is_used_and_is_comma_separated_like_in_kafka",),
    "log.dirs": (_TOPICS + "test_course_example_properties_start_a_cluster_with_only_log_dirs_changed",),
    "log.retention.ms": (_RETENTION + "test_log_retention_ms_beats_minutes_and_hours",),
    "log.retention.minutes": (_RETENTION + "test_log_retention_minutes_beats_hours_and_is_scaled_to_ms",),
    "log.retention.hours": (
        _RETENTION + "test_log_retention_hours_is_scaled_to_ms",
        _SERVER + "test_course_example_configures_the_topic_logs_it_creates",
    ),
    "log.retention.bytes": (_RETENTION + "test_retention_bytes_topic_beats_broker",),
    "log.segment.bytes": (_LOGCFG + "test_topic_key_beats_broker_key_and_broker_key_beats_default",),
    "log.roll.ms": (_LOGCFG + "test_segment_ms_beats_log_roll_ms_beats_log_roll_hours",),
    "log.roll.hours": (_LOGCFG + "test_segment_ms_beats_log_roll_ms_beats_log_roll_hours",),
    "log.retention.check.interval.ms": (_TOPICS + "test_retention_cleaner_deletes_segments_past_retention_bytes",),
    "log.flush.interval.messages": (_LOGCFG + "test_topic_key_beats_broker_key_and_broker_key_beats_default",),
    "log.flush.interval.ms": (_FLUSH + "test_the_timer_flushes_data_that_stopped_arriving_after_flush_ms_and_not_before",),
    "log.index.interval.bytes": (
        _LOGCFG + "test_topic_key_beats_broker_key_and_broker_key_beats_default",
        "tests/unit/test_index_interval.py::test_offset_index_has_one_entry_per_index_interval_bytes",
    ),
    "log.cleanup.policy": (
        _SERVER + "test_log_cleanup_policy_accepts_compact_delete_or_both_and_feeds_topic_logs",
        _COMPACTED + "test_cleanup_policy_decides_compact_and_or_delete_and_the_cleaner_switch_only_stops_compaction",
    ),
    "log.cleaner.enable": (
        _COMPACTED + "test_with_log_cleaner_enable_false_a_compact_topic_is_not_compacted",
        _SERVER + "test_log_cleaner_enable_false_warns_that_compacted_topics_are_not_compacted",
    ),
    "log.cleaner.backoff.ms": (_COMPACTED_CLUSTER,),
    "log.cleaner.delete.retention.ms": (_COMPACTED + "test_delete_retention_ms_is_how_long_a_cleaned_tombstone_stays",),
    "log.cleaner.min.cleanable.ratio": (_COMPACTED + "test_min_cleanable_dirty_ratio_decides_whether_a_pass_runs",),
    "log.cleaner.min.compaction.lag.ms": (
        _COMPACTED + "test_min_compaction_lag_ms_keeps_recent_records_uncompacted",
    ),
    "log.cleaner.max.compaction.lag.ms": (
        _COMPACTED + "test_max_compaction_lag_ms_forces_a_pass_below_the_dirty_ratio",
    ),
    "log.message.timestamp.type": (
        _HONEST + "test_broker_log_message_timestamp_type_applies_to_topics_without_their_own",
    ),
    "socket.request.max.bytes": (_HONEST + "test_socket_request_max_bytes_drops_a_bigger_message_and_serves_the_next",),
    "supervisor.max.restarts": (
        _SUPERVISION + "test_restart_intensity_marks_a_crashing_actor_failed_and_the_rest_keeps_serving",
    ),
    "supervisor.max.seconds": (
        _SUPERVISION + "test_restart_intensity_marks_a_crashing_actor_failed_and_the_rest_keeps_serving",
    ),
    "supervisor.restart.backoff.ms": (_SUPERVISION + "test_sigkill_of_an_actor_restarts_it_and_loses_no_acked_record",),
    "supervisor.restart.backoff.max.ms": (
        _SUPERVISION + "test_sigkill_of_an_actor_restarts_it_and_loses_no_acked_record",
        _SERVER + "test_supervisor_backoff_must_not_exceed_its_maximum",
    ),
}

TOPIC_KEY_TESTS: dict[str, tuple[str, ...]] = {
    "retention.ms": (_TOPICS + "test_retention_ms_changed_at_run_time_takes_effect",),
    "retention.bytes": (_TOPICS + "test_retention_cleaner_deletes_segments_past_retention_bytes",),
    "segment.bytes": (
        _TOPICS + "test_retention_cleaner_deletes_segments_past_retention_bytes",
        _LOG + "test_segments_roll_on_segment_bytes_and_are_named_by_base_offset",
    ),
    "segment.ms": (_LOG + "test_segment_rolls_when_segment_ms_has_passed_by_record_time",),
    "max.message.bytes": (
        "tests/integration/test_clients.py::test_record_too_large_fails_with_a_typed_error_and_the_partition_keeps_serving",
    ),
    "min.insync.replicas": (
        _REPLICATION + "test_acks_all_is_refused_with_nothing_appended_while_the_isr_is_below_min_insync_replicas",
        _HONEST + "test_min_insync_replicas_above_the_in_sync_count_refuses_acks_all_and_appends_nothing",
    ),
    "unclean.leader.election.enable": (
        _REPLICATION + "test_with_the_whole_isr_gone_the_partition_stays_offline_unless_unclean_election_is_enabled",
    ),
    "cleanup.policy": (
        _COMPACTED_CLUSTER,
        _COMPACTED + "test_a_replica_of_a_compact_topic_compacts_and_never_deletes_by_retention",
        _COMPACTED + "test_a_replica_of_a_compact_delete_topic_does_both",
        _COMPACTED + "test_a_compacted_topic_refuses_a_record_without_a_key_and_appends_nothing",
    ),
    "delete.retention.ms": (
        _COMPACTED + "test_delete_retention_ms_is_how_long_a_cleaned_tombstone_stays",
        _COMPACTED_CLUSTER,
    ),
    "min.cleanable.dirty.ratio": (_COMPACTED + "test_min_cleanable_dirty_ratio_decides_whether_a_pass_runs",),
    "min.compaction.lag.ms": (_COMPACTED + "test_min_compaction_lag_ms_keeps_recent_records_uncompacted",),
    "max.compaction.lag.ms": (_COMPACTED + "test_max_compaction_lag_ms_forces_a_pass_below_the_dirty_ratio",),
    "flush.messages": (_LOG + "test_flush_messages_fsyncs_every_n_records",),
    "flush.ms": (
        "tests/integration/test_leader_flush_timer.py::test_a_leader_flushes_unflushed_data_on_its_timer_after_flush_ms",
        _FLUSH + "test_append_flushes_once_flush_ms_has_passed_since_the_last_flush_and_not_before",
    ),
    "index.interval.bytes": ("tests/unit/test_index_interval.py::test_offset_index_has_one_entry_per_index_interval_bytes",),
    "message.timestamp.type": (
        _HONEST + "test_log_append_time_topic_stamps_the_brokers_clock_on_produce_and_consume",
        "tests/unit/test_log_append_time.py::test_log_append_time_stamps_attributes_and_max_timestamp_and_keeps_a_valid_crc",
    ),
}
