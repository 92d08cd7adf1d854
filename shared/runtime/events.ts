/** The outbound-event port: control-plane CloudEvents leave through it (Pub/Sub, or the log). */
export interface OutboundCloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  data: unknown;
}

export interface EventPublisher {
  /** Returns the Pub/Sub message id, or undefined when the event was only logged. */
  publish(event: OutboundCloudEvent): Promise<string | undefined>;
}
