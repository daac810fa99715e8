# Runs a batch of S3 Encryption Client jobs with AWS's Ruby SDK
# (aws-sdk-s3's Aws::S3::EncryptionV2::Client and the legacy
# Aws::S3::Encryption::Client), for the interop tests in ../ruby_test.go.
#
#   ruby s3ec_jobs.rb JOBS.json RESULTS.json
#
# JOBS.json is an array of jobs; RESULTS.json receives one result per job,
# in order: {"ok": true} or {"ok": false, "error": CLASS, "message": TEXT}.
# A job that fails does not stop the batch. Endpoints and credentials come
# from the environment (S3EC_RB_S3_ENDPOINT, S3EC_RB_KMS_ENDPOINT,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). No key material is
# printed.
#
# A job:
#   op        "put" (upload the file "file") or "get" (download into "file")
#   client    "v2" (EncryptionV2::Client) or "v1" (Encryption::Client)
#   wrap      "kms", "aes" or "rsa"
#   bucket, key
#   location  "metadata" or "instruction_file"
#   kms_key   KMS key id (wrap kms)
#   aes_key   hex AES-256 key (wrap aes)
#   rsa_pem   path of a PEM RSA private key (wrap rsa)
#   context   KMS encryption context (wrap kms; optional)
#   matdesc   material description JSON string (wrap aes/rsa; optional)
#   legacy    for a v2 get: security_profile :v2_and_legacy
require 'json'
require 'aws-sdk-s3'
require 'aws-sdk-kms'

def s3_client
  @s3_client ||= Aws::S3::Client.new(
    endpoint: ENV.fetch('S3EC_RB_S3_ENDPOINT'),
    force_path_style: true,
    region: ENV.fetch('AWS_REGION'),
    credentials: Aws::Credentials.new(ENV.fetch('AWS_ACCESS_KEY_ID'), ENV.fetch('AWS_SECRET_ACCESS_KEY')),
    retry_limit: 0
  )
end

def kms_client
  @kms_client ||= Aws::KMS::Client.new(
    endpoint: ENV.fetch('S3EC_RB_KMS_ENDPOINT'),
    region: ENV.fetch('AWS_REGION'),
    credentials: Aws::Credentials.new('AKIDKMSTEST', 'kmstest-secret'),
    retry_limit: 0
  )
end

def key_options(job)
  case job.fetch('wrap')
  when 'kms'
    { kms_key_id: job.fetch('kms_key'), kms_client: kms_client }
  when 'aes'
    o = { encryption_key: [job.fetch('aes_key')].pack('H*') }
    o[:materials_description] = job['matdesc'] if job['matdesc']
    o
  when 'rsa'
    o = { encryption_key: OpenSSL::PKey::RSA.new(File.read(job.fetch('rsa_pem'))) }
    o[:materials_description] = job['matdesc'] if job['matdesc']
    o
  else
    raise ArgumentError, "unknown wrap #{job['wrap']}"
  end
end

def v2_schema(wrap)
  { 'kms' => :kms_context, 'aes' => :aes_gcm, 'rsa' => :rsa_oaep_sha1 }.fetch(wrap)
end

def client_for(job)
  opts = key_options(job).merge(
    client: s3_client,
    envelope_location: job.fetch('location', 'metadata').to_sym
  )
  if job.fetch('client') == 'v1'
    Aws::S3::Encryption::Client.new(opts)
  else
    Aws::S3::EncryptionV2::Client.new(opts.merge(
      key_wrap_schema: v2_schema(job.fetch('wrap')),
      content_encryption_schema: :aes_gcm_no_padding,
      security_profile: job['legacy'] ? :v2_and_legacy : :v2
    ))
  end
end

def run(job)
  c = client_for(job)
  params = { bucket: job.fetch('bucket'), key: job.fetch('key') }
  kms = job['wrap'] == 'kms'
  case job.fetch('op')
  when 'put'
    params[:body] = File.binread(job.fetch('file'))
    if kms && job['client'] == 'v2'
      params[:kms_encryption_context] = job['context'] || {}
    end
    c.put_object(params)
  when 'get'
    if kms && job['client'] == 'v2'
      params[:kms_encryption_context] = job['context'] || {}
      # aws-sdk-kms 1.24 (Debian's) has no KeyId member on Decrypt, which
      # the V2 client sends unless told it may use any key.
      params[:kms_allow_decrypt_with_any_cmk] = true
    end
    resp = c.get_object(params)
    File.binwrite(job.fetch('file'), resp.body.read)
  else
    raise ArgumentError, "unknown op #{job['op']}"
  end
  { 'ok' => true }
rescue StandardError, ScriptError => e
  { 'ok' => false, 'error' => e.class.name, 'message' => e.message.to_s[0, 300] }
end

jobs = JSON.parse(File.read(ARGV.fetch(0)))
File.write(ARGV.fetch(1), JSON.generate(jobs.map { |j| run(j) }))
