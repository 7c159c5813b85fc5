export interface SafeUser {
  id: number;
  firstName: string;
  lastName: string;
  email: string;
  createdAt: string;
  updatedAt: string;
}

/** What `POST /login` and `GET /renew-token` answer; `iat`/`exp` are epoch milliseconds. */
export interface LoginObject extends SafeUser {
  iat: number;
  exp: number;
  accessToken: string;
  /** Absent from backends without roles; only `admin` sees the System page. */
  role?: 'user' | 'admin';
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** One page of `GET /job/my`: the jobs, and whether the `Link` header offered more. */
export interface JobPage {
  jobs: Job[];
  hasMore: boolean;
}

/**
 * An exact integer as the API sends it: a JSON number while JavaScript holds it exactly
 * (|n| ≤ 2^53 − 1), beyond that a string of its decimal digits (`"18446744069414584320"`).
 */
export type ExactInteger = number | string;

/** A math result: a number (an integer or a decimal), or for `factors` one array of prime factors per input number. */
export type StepResult = ExactInteger | ExactInteger[][] | unknown;

export interface JobStep {
  method: string;
  numbers: string;
  result?: StepResult;
}

export interface Job {
  id: number;
  type: string;
  done: boolean;
  status: JobStatus;
  details: JobStep[];
  stepsDone: number;
  stepsTotal: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  version?: number;
  owner?: SafeUser;
  results?: StepResult[];
}

export interface QueueInfo {
  name: string;
  messages: number | null;
  messagesReady: number | null;
  messagesUnacked: number | null;
  consumers: number | null;
  publishRate: number | null;
  deliverRate: number | null;
  deadLetters: number | null;
}

/** One bus consumer of the API's process, as the bus counts it (`/system/queues`). */
export interface ConsumerHealth {
  /** The worker process (`host:pid`) that reported it. */
  process: string;
  queue: string;
  attached: boolean;
  inFlight: number;
  handled: number;
  retried: number;
  deadLettered: number;
  stallRecoveries: number;
  millisSinceLastDelivery: number | null;
}

export interface QueuesReport {
  /** `management`: the RabbitMQ management API; `counters`: the API's sample and mom's own counters. */
  source: 'management' | 'counters' | string;
  queues: QueueInfo[];
  consumers?: ConsumerHealth[];
}

/** One minute of `GET /system/history`. `finished` maps each final status to its count. */
export interface HistoryMinute {
  minute: string;
  created: number;
  finished: Record<string, number>;
  p50Seconds: number | null;
  p95Seconds: number | null;
  p99Seconds: number | null;
}

export interface HistoryReport {
  minutes: HistoryMinute[];
}

/** A message a work queue gave up on, as `GET /admin/dead-letters` lists it. */
export interface DeadLetter {
  id: number;
  queue: string;
  /** The message type: `math.step`, `job.recordStep`, `user.create`, … */
  kind: string;
  messageId: string;
  reason: string;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
  jobId: number | null;
  /** The JSON body with its secrets redacted; null when the body was not JSON. */
  payload: unknown;
  /** Why it cannot be replayed; null when it can. */
  notReplayable: string | null;
}

export interface DeadLetterFilter {
  queue?: string;
  jobId?: number;
  reason?: string;
}

/** One page of dead letters, and whether the `Link` header offered more. */
export interface DeadLetterPage {
  deadLetters: DeadLetter[];
  hasMore: boolean;
}

export interface DeadLetterCounts {
  total: number;
  queues: { queue: string; count: number }[];
}

/** What replay and discard act on: these ids, or everything matching a filter. */
export type DeadLetterSelection = { ids: number[] } | { filter: DeadLetterFilter };
