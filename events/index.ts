export * from './cloudevent';
export * from './monitoring';
export * from './outbound';
export * from './pubsub';
export * from './scheduler';
export * from './storage';
export * from './validation';
