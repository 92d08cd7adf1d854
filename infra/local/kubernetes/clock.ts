/** The time source of the local apiserver: creation and deletion timestamps, continue-token expiry. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };
