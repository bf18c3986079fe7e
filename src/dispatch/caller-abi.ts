/** The caller's C ABI, announced by the shim's hello frame: sizes in the caller's units. */
export interface CallerAbi {
  readonly ulongSize: number;
  readonly pointerSize: number;
  readonly attributeSize: number;
  readonly pid: number;
  readonly transport: 'embedded' | 'process' | 'unknown';
  readonly modulePath: string;
}

export const DEFAULT_ABI: CallerAbi = {
  ulongSize: 8,
  pointerSize: 8,
  attributeSize: 24,
  pid: 0,
  transport: 'unknown',
  modulePath: '',
};
