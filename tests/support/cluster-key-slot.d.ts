/** cluster-key-slot (ioredis's own slot function) ships without types. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot of `key`, honouring its `{tag}`. */
  export default function clusterKeySlot(key: string): number;
}
