import path from 'node:path';
import { DirectoryObjectStore } from './directory.js';
import type { ObjectStore } from './object-store.js';

export interface ObjectStoreSettings {
  /** `--object-store`: `s3://BUCKET[/PREFIX]`, or a directory; default `<dataDir>/objects`. */
  url?: string;
  dataDir: string;
  /** `--s3-endpoint` / `CRUCIBLE_S3_ENDPOINT`: an S3-compatible service, addressed path-style. */
  s3Endpoint?: string;
  /** `CRUCIBLE_S3_FORCE_PATH_STYLE`; default: on with an endpoint, off for AWS itself. */
  s3ForcePathStyle?: boolean;
}

/** The configured object store; the S3 SDK is loaded only for an `s3://` URL. */
export async function openObjectStore(settings: ObjectStoreSettings): Promise<ObjectStore> {
  const url = settings.url;
  if (url?.startsWith('s3://')) {
    const { S3ObjectStore, parseS3Url } = await import('./s3.js');
    return S3ObjectStore.open({
      ...parseS3Url(url),
      ...(settings.s3Endpoint ? { endpoint: settings.s3Endpoint } : {}),
      ...(settings.s3ForcePathStyle !== undefined ? { forcePathStyle: settings.s3ForcePathStyle } : {}),
    });
  }
  const directory =
    url === undefined ? path.join(settings.dataDir, 'objects') : url.replace(/^file:\/\//, '');
  return new DirectoryObjectStore(path.resolve(directory));
}
