/**
 * The SDK: what defining objects and services needs (definitions, contexts, errors, retry
 * policies), package export "kvo/sdk". sdk/* depends on nothing else in the project, so
 * definitions importing only this load no runtime and no Kafka client. Applications import
 * from the root index.ts, which re-exports this together with createRuntime and the client.
 */
export { object, service, shared, workflow, stateOf, isShared } from "./definitions.js";
export type {
  ObjectDefinition,
  ServiceDefinition,
  Definition,
  SharedHandler,
  HandlerOptions,
  PerHandlerOptions,
  HandlerInput,
  HandlerOutput,
  ClientOf,
  StateType,
  WorkflowRun,
  WorkflowHandler,
} from "./definitions.js";
export type {
  BaseContext,
  ObjectContext,
  SharedObjectContext,
  ServiceContext,
  InvocationRequest,
  InvocationSource,
  DeterministicRandom,
  DurableDate,
  Json,
  StateShape,
  EmitFormat,
  EmitRecord,
  EmitOptions,
  EmittingContext,
  WorkflowContext,
  WorkflowSharedContext,
  WorkflowPromises,
} from "./context.js";
export type {
  DurablePromise,
  DurablePromiseHandle,
  Awakeable,
  SendOptions,
  CallClientOf,
  SendClientOf,
  InteractingContext,
} from "./durable.js";
export type { RetryPolicy } from "./retry.js";
export { avro, type AvroFormat, type AvroSchema } from "./avro_format.js";
export {
  KvoError,
  TerminalError,
  NonDeterminismError,
  SharedHandlerWriteError,
  ConfigurationError,
  FencedError,
  SerializationError,
  UnknownError,
  AttemptTimeoutError,
  CancelledError,
  TimeoutError,
  CallCycleError,
  PartitionClosedError,
  toKvoError,
} from "./errors.js";
export { ERROR_CODES, isErrorCode, type ErrorCode, type ErrorCodeInfo } from "./error_codes.js";
