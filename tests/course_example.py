"""The course notes' ``server.properties``, verbatim: it must load once ``log.dirs`` points at real dirs."""

COURSE_EXAMPLE = """\
log.dirs = /home/kafka1,/home/kafka2,/home/kafka3
log.dir = /home/kafka1
zookeeper.connect = zk1:2181,zk2:2181,zk3:2181/KafkaClusterName
listeners = PLAINTEXT://localhost:9092
advisor.listeners = PLAINTEXT://PLAINTEXT:9092,CONTROLLER://localhost:9093
auto.create.topics.enable = false
unclean.leader.election.enable = false
auto.leader.rebalance.enable = false
log.retention.hours = 7 * 24
log.retention.bytes = -1
message.max.bytes = 1024 * 1024
"""


def with_log_dirs(dirs: list[str]) -> str:
    """The example with only ``log.dirs`` changed."""
    return COURSE_EXAMPLE.replace("/home/kafka1,/home/kafka2,/home/kafka3", ",".join(dirs), 1)
