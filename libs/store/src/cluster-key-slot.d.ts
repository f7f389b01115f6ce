/** Types of `cluster-key-slot` (ioredis's own slot function), which ships none. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0..16383) of a key: CRC16 of its hash tag, or of the whole key without one. */
  function calculateSlot(key: string): number;
  export default calculateSlot;
}
