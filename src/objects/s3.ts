import type { Readable } from 'node:stream';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  assertValidKey,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

/** Where an `s3://bucket/prefix` URL points. */
export interface S3Location {
  bucket: string;
  /** '' or a prefix ending in '/', prepended to every key. */
  prefix: string;
}

export interface S3ObjectStoreOptions extends S3Location {
  /** An S3-compatible service (MinIO, Ceph, s3rver…): path-style addressing, as such services expect. */
  endpoint?: string;
  /** Defaults: the SDK's own chain (AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, IMDS…). */
  region?: string;
  forcePathStyle?: boolean;
}

/** `s3://bucket` or `s3://bucket/some/prefix`; throws naming the problem otherwise. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(url);
  if (!match) throw new Error(`object store ${JSON.stringify(url)} is not s3://BUCKET[/PREFIX]`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1]!, prefix: prefix === '' ? '' : `${prefix}/` };
}

/** Parts of a streamed put; S3 wants at least 5 MiB per part except the last. */
const PART_BYTES = 8 << 20;

/**
 * The object store on S3 or any S3-compatible service. `@aws-sdk/client-s3` is loaded only when such a store
 * is configured (see `openObjectStore`). A put of a stream shorter than one part is a single PutObject; a
 * longer one is a multipart upload (parts of 8 MiB, aborted on error), so a put is visible only once whole.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #sdk: typeof S3Sdk;
  readonly #bucket: string;
  readonly #prefix: string;

  private constructor(sdk: typeof S3Sdk, client: S3Client, location: S3Location) {
    this.#sdk = sdk;
    this.#client = client;
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
  }

  static async open(options: S3ObjectStoreOptions): Promise<S3ObjectStore> {
    const sdk = await import('@aws-sdk/client-s3');
    const client = new sdk.S3Client({
      region: options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      // S3-compatible services often reject the flexible checksums the SDK would add to every request.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    return new S3ObjectStore(sdk, client, options);
  }

  #full(key: string): string {
    assertValidKey(key);
    return this.#prefix + key;
  }

  async put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<ObjectInfo> {
    const Key = this.#full(key);
    const ContentType = options?.contentType;
    if (Buffer.isBuffer(body)) {
      await this.#client.send(
        new this.#sdk.PutObjectCommand({ Bucket: this.#bucket, Key, Body: body, ContentType }),
      );
      return { key, size: body.length };
    }
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: { ETag: string; PartNumber: number }[] = [];
    let size = 0;
    const flushPart = async (): Promise<void> => {
      uploadId ??= (
        await this.#client.send(
          new this.#sdk.CreateMultipartUploadCommand({ Bucket: this.#bucket, Key, ContentType }),
        )
      ).UploadId;
      const PartNumber = parts.length + 1;
      const answer = await this.#client.send(
        new this.#sdk.UploadPartCommand({
          Bucket: this.#bucket,
          Key,
          UploadId: uploadId,
          PartNumber,
          Body: Buffer.concat(pending),
        }),
      );
      parts.push({ ETag: answer.ETag!, PartNumber });
      pending = [];
      pendingBytes = 0;
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        size += chunk.length;
        if (pendingBytes >= PART_BYTES) await flushPart();
      }
      if (uploadId === undefined) {
        const whole = Buffer.concat(pending);
        await this.#client.send(
          new this.#sdk.PutObjectCommand({ Bucket: this.#bucket, Key, Body: whole, ContentType }),
        );
        return { key, size };
      }
      if (pendingBytes > 0) await flushPart();
      await this.#client.send(
        new this.#sdk.CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      return { key, size };
    } catch (error) {
      if (uploadId !== undefined) {
        await this.#client
          .send(new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    const Range = range ? `bytes=${range.start}-${range.end ?? ''}` : undefined;
    try {
      const answer = await this.#client.send(
        new this.#sdk.GetObjectCommand({ Bucket: this.#bucket, Key: this.#full(key), Range }),
      );
      return answer.Body as Readable;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const answer = await this.#client.send(
        new this.#sdk.HeadObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }),
      );
      return {
        key,
        size: answer.ContentLength ?? 0,
        ...(answer.ContentType ? { contentType: answer.ContentType } : {}),
      };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(
      new this.#sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }),
    );
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const base = prefix === '' ? '' : prefix.replace(/\/?$/, '/');
    const found: ObjectInfo[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new this.#sdk.ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix + base,
          ContinuationToken,
        }),
      );
      for (const object of page.Contents ?? []) {
        found.push({ key: object.Key!.slice(this.#prefix.length), size: object.Size ?? 0 });
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    // DeleteObjects takes at most 1,000 keys per call.
    for (let at = 0; at < objects.length; at += 1000) {
      const batch = objects.slice(at, at + 1000);
      await this.#client.send(
        new this.#sdk.DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: batch.map((object) => ({ Key: this.#prefix + object.key })), Quiet: true },
        }),
      );
    }
    return objects.length;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}

function isMissing(error: unknown): boolean {
  const named = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return named.name === 'NoSuchKey' || named.name === 'NotFound' || named.$metadata?.httpStatusCode === 404;
}
