# veilsum services (coordinator today; keyholder with the CKKS issue). Node 24 LTS runs the
# TypeScript sources directly (type stripping), so the image has no build step.
FROM node:24-bookworm-slim
WORKDIR /opt/veilsum
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY crypto ./crypto
COPY ledger ./ledger
COPY chaincode ./chaincode
COPY proto ./proto
COPY sdk ./sdk
COPY services ./services
COPY cli ./cli
USER node
ENTRYPOINT ["node", "cli/veilsum.ts"]
CMD ["coordinator", "start", "--config", "/etc/veilsum/coordinator.json"]
