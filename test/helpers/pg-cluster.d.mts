// Types of pg-cluster.mjs (plain JavaScript, since `npm test`'s runner imports it before any TypeScript loader).
export type Cluster = { dir: string; port: number };
export function pgBin(): string | null;
export function startCluster(cluster?: Cluster): string;
export function stopCluster(cluster?: Pick<Cluster, 'dir'>): void;
export function freePort(): Promise<number>;
