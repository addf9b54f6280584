/**
 * One locally started backing service (Kafka, Schema Registry, Redis).
 *
 * infra:up and the integration tests drive every service through this interface, so the
 * code path that starts services in CI is the same one developers use.
 */
export interface InfraPaths {
  /** Repository root. */
  root: string;
  /** Ignored folder holding data, logs, pid files and download caches (default `<root>/.kvo`). */
  stateDir: string;
  /** Cache reused across runs for downloaded artifacts (Maven jars, virtualenvs). */
  cacheDir: string;
}

export interface ServiceStatus {
  /** Where the service listens, e.g. `127.0.0.1:9092` or `http://127.0.0.1:8081`. */
  endpoint: string;
  /** True when the endpoint came from an environment variable: nothing is started or stopped. */
  external: boolean;
  /** Log file of a service started by infra:up. */
  logFile?: string;
  /** Pid of a service started by infra:up. */
  pid?: number;
}

export interface InfraService {
  readonly name: string;
  /** Endpoint, honouring the service's environment override. */
  endpoint(): string;
  /** True when an environment variable points at an existing service. */
  isExternal(): boolean;
  /** A real round trip (produce/consume, schema fetch, PING), not just an open port. */
  isHealthy(): Promise<boolean>;
  /** Installs what is missing (jars, virtualenv, packages). Idempotent; reuses caches. */
  install(paths: InfraPaths): Promise<void>;
  /** Starts the process detached, records its pid, resolves once isHealthy() holds. */
  start(paths: InfraPaths): Promise<ServiceStatus>;
  /** Stops only what start() recorded; leaves no process behind. */
  stop(paths: InfraPaths): Promise<void>;
}
