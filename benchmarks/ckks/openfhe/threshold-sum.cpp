// OpenFHE's 3-party CKKS decryption of one sum, the baseline `bench:ckks --openfhe` runs beside
// veilsum's in the same run (issue 18: "decryption side by side").
//
// What it does, with the parameters closest to veilsum's (N = 8192, one level, 128-bit classic):
// three parties make a joint key (MultipartyKeyGen: n-of-n, OpenFHE's threshold CKKS), `clients`
// members each encrypt `dim` values, the sums are added, then each party decrypts its share
// (MultipartyDecryptLead / MultipartyDecryptMain, which add OpenFHE's flooding noise) and the shares
// are fused (MultipartyDecryptFusion). Times are wall milliseconds of the whole sum (all its
// ciphertexts), the median over `repeats`; the result is one line of JSON on stdout.
//
//   threshold-sum <clients> <dim> [repeats]
//
// Built by ./build.sh from an OpenFHE source tree; OMP_NUM_THREADS decides how many cores it uses.
#include "openfhe.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace lbcrypto;

// build.sh passes the version of the library it built (OpenFHE's own version.h is filled in by its
// cmake install step only).
#ifndef OPENFHE_BENCH_VERSION
#define OPENFHE_BENCH_VERSION "unknown"
#endif

namespace {

double elapsedMs(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

double median(std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    size_t n = xs.size();
    return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: threshold-sum <clients> <dim> [repeats]\n");
        return 2;
    }
    const size_t clients = std::strtoul(argv[1], nullptr, 10);
    const size_t dim     = std::strtoul(argv[2], nullptr, 10);
    const size_t repeats = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 3;
    if (clients == 0 || dim == 0 || repeats == 0) {
        std::fprintf(stderr, "clients, dim and repeats must be positive\n");
        return 2;
    }

    CCParams<CryptoContextCKKSRNS> parameters;
    parameters.SetSecurityLevel(HEStd_128_classic);
    parameters.SetRingDim(8192);
    parameters.SetMultiplicativeDepth(1);
    parameters.SetScalingModSize(50);
    parameters.SetFirstModSize(60);
    parameters.SetScalingTechnique(FIXEDMANUAL);
    parameters.SetBatchSize(4096);
    CryptoContext<DCRTPoly> cc = GenCryptoContext(parameters);
    cc->Enable(PKE);
    cc->Enable(KEYSWITCH);
    cc->Enable(LEVELEDSHE);
    cc->Enable(MULTIPARTY);

    const size_t slots       = cc->GetEncodingParams()->GetBatchSize();
    const size_t ciphertexts = (dim + slots - 1) / slots;

    KeyPair<DCRTPoly> kp1 = cc->KeyGen();
    KeyPair<DCRTPoly> kp2 = cc->MultipartyKeyGen(kp1.publicKey);
    KeyPair<DCRTPoly> kp3 = cc->MultipartyKeyGen(kp2.publicKey);

    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> value(-1.0, 1.0);
    std::vector<std::vector<double>> expected(ciphertexts, std::vector<double>(slots, 0.0));
    std::vector<Ciphertext<DCRTPoly>> sum(ciphertexts);
    std::vector<double> encryptMs;
    for (size_t c = 0; c < clients; ++c) {
        auto started = std::chrono::steady_clock::now();
        for (size_t i = 0; i < ciphertexts; ++i) {
            std::vector<double> v(slots, 0.0);
            for (size_t j = 0; j < slots && i * slots + j < dim; ++j) {
                v[j] = value(rng);
                expected[i][j] += v[j];
            }
            auto ct = cc->Encrypt(kp3.publicKey, cc->MakeCKKSPackedPlaintext(v));
            sum[i]  = c == 0 ? ct : cc->EvalAdd(sum[i], ct);
        }
        encryptMs.push_back(elapsedMs(started));
    }

    std::vector<double> partialMs, combineMs;
    double maxAbsError = 0;
    for (size_t r = 0; r < repeats; ++r) {
        std::vector<Ciphertext<DCRTPoly>> lead, main2, main3;
        auto started = std::chrono::steady_clock::now();
        lead = cc->MultipartyDecryptLead(sum, kp1.secretKey);
        partialMs.push_back(elapsedMs(started));
        main2 = cc->MultipartyDecryptMain(sum, kp2.secretKey);
        main3 = cc->MultipartyDecryptMain(sum, kp3.secretKey);
        started = std::chrono::steady_clock::now();
        for (size_t i = 0; i < ciphertexts; ++i) {
            Plaintext out;
            cc->MultipartyDecryptFusion({lead[i], main2[i], main3[i]}, &out);
            out->SetLength(slots);
            if (r == 0) {
                const auto& got = out->GetRealPackedValue();
                for (size_t j = 0; j < slots; ++j)
                    maxAbsError = std::max(maxAbsError, std::fabs(got[j] - expected[i][j]));
            }
        }
        combineMs.push_back(elapsedMs(started));
    }

    const double encryptMedian = median(encryptMs);
    std::printf(
        "{\"library\":\"OpenFHE\",\"version\":\"%s\",\"ringDim\":%u,\"parties\":3,\"clients\":%zu,"
        "\"dim\":%zu,\"ciphertexts\":%zu,\"repeats\":%zu,\"clientEncryptParamsPerSec\":%.0f,"
        "\"partialDecryptMs\":%.1f,\"combineMs\":%.1f,\"maxAbsError\":%.3g}\n",
        OPENFHE_BENCH_VERSION, cc->GetRingDimension(), clients, dim,
        ciphertexts, repeats, dim / (encryptMedian / 1000), median(partialMs), median(combineMs), maxAbsError);
    return maxAbsError < 1e-3 ? 0 : 1;
}
