/**
 * The states of a training run, apart from protocol.ts so that the panel's browser bundle can use
 * them without the LSP library.
 */

/** preparing: reading data, loading or downloading the model; training: steps running. */
export type RunStatus = 'preparing' | 'training' | 'completed' | 'early-stopped' | 'cancelled' | 'failed' | 'interrupted';

export const activeRunStatuses: readonly RunStatus[] = ['preparing', 'training'];
/** Runs that stopped with checkpoints behind them, which `resumeRun` continues. */
export const resumableRunStatuses: readonly RunStatus[] = ['interrupted', 'cancelled'];

/** Run ids as the server makes them: safe to echo back. */
export const RUN_ID_PATTERN = /^[\w.-]{1,80}$/;
