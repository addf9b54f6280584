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
