/**
 * Why each partition's consumption is paused. Several limits pause independently (a
 * partition's in-flight invocations, records held while reply topics are looked up, the
 * process-wide uncommitted-bytes budget); a partition resumes only when no reason is left.
 * The transport is told only about changes of the combined state.
 */
export class PauseControl {
  private readonly byPartition = new Map<number, Set<string>>();
  private readonly global = new Set<string>();
  private readonly effective = new Set<number>();

  constructor(
    private readonly pause: (partitions: number[]) => void,
    private readonly resume: (partitions: number[]) => void,
  ) {}

  /** Sets or clears a reason for one partition. */
  set(partition: number, reason: string, paused: boolean): void {
    let reasons = this.byPartition.get(partition);
    if (paused) {
      if (!reasons) this.byPartition.set(partition, (reasons = new Set()));
      reasons.add(reason);
    } else {
      reasons?.delete(reason);
      if (reasons?.size === 0) this.byPartition.delete(partition);
    }
    this.apply([partition]);
  }

  /** Sets or clears a reason that pauses every owned partition. */
  setGlobal(reason: string, paused: boolean, owned: number[]): void {
    if (paused) this.global.add(reason);
    else this.global.delete(reason);
    this.apply(owned);
  }

  /** Forgets a partition no longer owned (its reasons die with its processor). */
  forget(partition: number): void {
    this.byPartition.delete(partition);
    this.effective.delete(partition);
  }

  isPaused(partition: number): boolean {
    return this.effective.has(partition);
  }

  /** Names of the active reasons for a partition (for stats). */
  reasons(partition: number): string[] {
    return [...this.global, ...(this.byPartition.get(partition) ?? [])];
  }

  private apply(partitions: number[]): void {
    const toPause: number[] = [];
    const toResume: number[] = [];
    for (const p of partitions) {
      const paused = this.global.size > 0 || (this.byPartition.get(p)?.size ?? 0) > 0;
      if (paused && !this.effective.has(p)) {
        this.effective.add(p);
        toPause.push(p);
      } else if (!paused && this.effective.has(p)) {
        this.effective.delete(p);
        toResume.push(p);
      }
    }
    if (toPause.length > 0) this.pause(toPause);
    if (toResume.length > 0) this.resume(toResume);
  }
}
