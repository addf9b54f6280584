/** Kafka adapter of the runtime's LogTransport port (librdkafka through @confluentinc/kafka-javascript). */
export { createKafkaTransport, type KafkaTransportOptions } from "./transport.js";
export { ConfigurationError, FencedError, KafkaErrorCodes, KafkaRetryableError, TransportStoppedError } from "./errors.js";
export type { TopicProblem } from "./topics.js";
