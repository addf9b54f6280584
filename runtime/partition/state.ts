import { decodeChangelogKey } from "../codec/changelog_key.js";
import { codecs, type InvocationRecord, type JournalEntryRecord, type OutcomeRecord, type TimerRecord } from "../codec/records.js";
import type { StateSource } from "../journal/context_impl.js";

export function objectId(target: string, key: string): string {
  return `${target}/${key}`;
}

/**
 * Materialised content of one changelog partition: what a restore rebuilds and what the
 * processor keeps current as it writes. Values are the encoded forms (JSON bytes for state).
 */
export class PartitionState {
  readonly invocations = new Map<string, InvocationRecord>();
  readonly journals = new Map<string, JournalEntryRecord[]>();
  readonly outcomes = new Map<string, OutcomeRecord>();
  /** Delayed sends waiting for their time, by timer id. */
  readonly timers = new Map<string, TimerRecord>();
  /** objectId → state name → JSON bytes. */
  readonly objects = new Map<string, Map<string, Buffer>>();
  /** Changelog records skipped because this version does not understand their key. */
  unknownKeys = 0;

  /** Applies one changelog record (restore). Later records of a key replace earlier ones. */
  apply(rawKey: string, value: Buffer | null): void {
    const key = decodeChangelogKey(rawKey);
    if (!key) {
      this.unknownKeys++;
      return;
    }
    switch (key.type) {
      case "inv":
        if (value === null) this.invocations.delete(key.id);
        else this.invocations.set(key.id, codecs.invocation.decode(value));
        return;
      case "jnl":
        if (value === null) this.journals.delete(key.id);
        else this.journals.set(key.id, codecs.journal.decode(value).entries);
        return;
      case "out":
        if (value === null) this.outcomes.delete(key.id);
        else this.outcomes.set(key.id, codecs.outcome.decode(value));
        return;
      case "tmr":
        if (value === null) this.timers.delete(key.id);
        else this.timers.set(key.id, codecs.timer.decode(value));
        return;
      case "st": {
        const id = objectId(key.object, key.key);
        if (value === null) {
          const names = this.objects.get(id);
          names?.delete(key.name);
          if (names && names.size === 0) this.objects.delete(id);
        } else {
          let names = this.objects.get(id);
          if (!names) this.objects.set(id, (names = new Map<string, Buffer>()));
          names.set(key.name, codecs.stateValue.decode(value).value);
        }
        return;
      }
    }
  }

  objectState(target: string, key: string): Map<string, Buffer> | undefined {
    return this.objects.get(objectId(target, key));
  }
}

/**
 * One object's state as an attempt's context reads it: looked up on every read (a workflow
 * run's writes apply while it runs). A class rather than closures: one is made per attempt.
 * A service (key null) has none.
 */
export class ObjectStateSource implements StateSource {
  constructor(
    private readonly state: PartitionState,
    private readonly target: string,
    private readonly key: string | null,
  ) {}

  read(name: string): Buffer | undefined {
    return this.key === null ? undefined : this.state.objectState(this.target, this.key)?.get(name);
  }

  names(): string[] {
    const names = this.key === null ? undefined : this.state.objectState(this.target, this.key);
    return names ? [...names.keys()] : [];
  }
}
