/**
 * The public surface of KVO: everything an application imports comes from here.
 * sdk/* itself depends on nothing else in the project; this file also re-exports the
 * runtime factory and clients, which are built on top of it.
 */
export { object, service, shared, stateOf, isShared } from "./definitions.js";
export type {
  ObjectDefinition,
  ServiceDefinition,
  Definition,
  SharedHandler,
  HandlerOptions,
  HandlerInput,
  HandlerOutput,
  ClientOf,
  StateType,
} from "./definitions.js";
export type {
  BaseContext,
  ObjectContext,
  SharedObjectContext,
  ServiceContext,
  InvocationRequest,
  DeterministicRandom,
  DurableDate,
  Json,
  StateShape,
} from "./context.js";
export type { RetryPolicy } from "./retry.js";
export {
  KvoError,
  TerminalError,
  NonDeterminismError,
  SharedHandlerWriteError,
  ConfigurationError,
  FencedError,
  SerializationError,
  UnknownError,
  toKvoError,
} from "./errors.js";

// Built on top of the SDK (sdk ← runtime ← connectors); re-exported so that applications
// import everything from one place.
export { createRuntime } from "../connectors/create_runtime.js";
export type { CreateRuntimeOptions, KafkaRuntimeOptions } from "../connectors/create_runtime.js";
export type { Runtime, RuntimeOptions, RuntimeStats, TopicNames } from "../runtime/runtime.js";
export type { Logger, Clock } from "../runtime/support.js";
export type { RuntimeEvents, RuntimeEventName, RuntimeEventListener } from "../runtime/instrumentation.js";
export { connectClient, KvoClient } from "../connectors/client/kafka_client.js";
export type { ClientOptions, CallOptions } from "../connectors/client/kafka_client.js";
export { InvocationFailedError, ReplyTimeoutError } from "../connectors/client/errors.js";
